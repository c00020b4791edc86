package ui

import (
	"context"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// loginView is the login screen: user, password and the current TOTP code.
type loginView struct {
	user, password, code *widget.Entry
	submit, setup        *widget.Button
	status               *widget.Label
	screen               fyne.CanvasObject // the window content while it is shown
}

func (u *UI) showLogin(prev error) {
	v := &loginView{
		user:     widget.NewEntry(),
		password: widget.NewPasswordEntry(),
		code:     widget.NewEntry(),
		status:   plain(errText(prev)),
	}
	v.user.SetPlaceHolder("user name")
	v.code.SetPlaceHolder("6-digit code from the authenticator app")
	v.submit = widget.NewButton("Log in", func() { u.submitLogin(v) })
	v.submit.Importance = widget.HighImportance
	v.code.OnSubmitted = func(string) { u.submitLogin(v) }
	v.setup = widget.NewButton("First-run setup…", func() { u.showSetup() })
	change := widget.NewButton("Change hub…", func() { u.showConnect(nil) })
	form := widget.NewForm(
		widget.NewFormItem("User", v.user),
		widget.NewFormItem("Password", v.password),
		widget.NewFormItem("Code", v.code),
	)
	box := container.NewVBox(
		widget.NewLabelWithStyle("Carrel staff console", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		u.hubPanel(),
		widget.NewSeparator(),
		form, v.submit, v.status,
		widget.NewSeparator(),
		container.NewHBox(v.setup, change),
	)
	u.loginView = v
	v.screen = container.NewCenter(container.NewGridWrap(fyne.NewSize(520, 440), box))
	u.show("login", v.screen)
	u.win.Canvas().Focus(v.user)
}

func (u *UI) submitLogin(v *loginView) {
	req := protocol.LoginRequest{User: strings.TrimSpace(v.user.Text), Password: v.password.Text, TOTP: strings.TrimSpace(v.code.Text)}
	if req.User == "" || req.Password == "" || req.TOTP == "" {
		v.status.SetText("Enter your user name, password and the code from your authenticator app.")
		return
	}
	v.submit.Disable()
	v.status.SetText("Logging in…")
	u.async(func(ctx context.Context) func() {
		lr, err := u.client.Login(ctx, req)
		return func() {
			v.submit.Enable()
			if err != nil {
				v.password.SetText("")
				v.code.SetText("")
				v.status.SetText(errText(err))
				return
			}
			u.login = lr
			u.showMain()
		}
	})
}
