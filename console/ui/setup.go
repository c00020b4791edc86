package ui

import (
	"context"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// setupView is first-run setup: the hub's one-time setup code, then the first
// admin's user name and password; the answer is the TOTP secret to enroll.
type setupView struct {
	code, user, password, confirm *widget.Entry
	submit                        *widget.Button
	status                        *widget.Label
}

func (u *UI) showSetup() {
	v := &setupView{
		code: widget.NewEntry(), user: widget.NewEntry(),
		password: widget.NewPasswordEntry(), confirm: widget.NewPasswordEntry(),
		status: plain(""),
	}
	v.code.SetPlaceHolder("printed by the hub on its first start")
	if code := u.embeddedSetupCode(); code != "" {
		v.code.SetText(code) // the hub runs here: its code is ours to read
	}
	v.submit = widget.NewButton("Create the first admin", func() { u.submitSetup(v) })
	v.confirm.OnSubmitted = func(string) { u.submitSetup(v) }
	v.submit.Importance = widget.HighImportance
	form := widget.NewForm(
		widget.NewFormItem("Setup code", v.code),
		widget.NewFormItem("Admin user", v.user),
		widget.NewFormItem("Password", v.password),
		widget.NewFormItem("Password again", v.confirm),
	)
	back := widget.NewButton("Back to login", func() { u.showLogin(nil) })
	u.setupView = v
	u.show("setup", container.NewCenter(container.NewGridWrap(fyne.NewSize(560, 480), container.NewVBox(
		widget.NewLabelWithStyle("First-run setup", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		u.hubPanel(),
		plain("A new hub has no staff account: create its first admin here. Enter the setup code the hub printed at its first start (also in the file setup-code in its data directory)."),
		form, v.submit, v.status, back))))
	if v.code.Text == "" {
		u.win.Canvas().Focus(v.code)
	} else {
		u.win.Canvas().Focus(v.user)
	}
}

func (u *UI) submitSetup(v *setupView) {
	req := protocol.SetupRequest{SetupCode: strings.TrimSpace(v.code.Text), User: strings.TrimSpace(v.user.Text), Password: v.password.Text}
	switch {
	case req.SetupCode == "" || req.User == "":
		v.status.SetText("Enter the setup code and a user name.")
		return
	case len(req.Password) < 12:
		v.status.SetText("Choose a password of at least 12 characters.")
		return
	case req.Password != v.confirm.Text:
		v.status.SetText("The two passwords differ.")
		return
	}
	v.submit.Disable()
	v.status.SetText("Creating the account…")
	u.async(func(ctx context.Context) func() {
		res, err := u.client.Setup(ctx, req)
		return func() {
			v.submit.Enable()
			if err != nil {
				v.status.SetText(errText(err))
				return
			}
			u.show("setup-done", container.NewCenter(container.NewVBox(
				totpPanel(res, u.app.Clipboard()),
				widget.NewButton("Continue to login", func() { u.showLogin(nil) }),
			)))
		}
	})
}

// totpPanel shows a new member's TOTP secret once: as a QR code of the
// otpauth:// URI for a phone's authenticator app, and as the secret on one
// line with a button that copies it (for an app on a computer, or to type).
func totpPanel(res protocol.SetupResponse, clip fyne.Clipboard) fyne.CanvasObject {
	items := []fyne.CanvasObject{
		widget.NewLabelWithStyle("Account created: "+shown(res.User), fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		plain("Scan this code with an authenticator app now, or type the secret into it. It is shown only once."),
	}
	if png, err := qrcode.Encode(res.TOTPURI, qrcode.Medium, 256); err == nil {
		img := canvas.NewImageFromResource(fyne.NewStaticResource("totp-qr.png", png))
		img.FillMode = canvas.ImageFillContain
		img.SetMinSize(fyne.NewSize(220, 220))
		items = append(items, img)
	} else {
		items = append(items, plain("No QR code: "+err.Error()))
	}
	secret := widget.NewLabel(shown(res.TOTPSecret))
	secret.Selectable = true
	secret.Wrapping = fyne.TextWrapOff // one line: copied and typed whole
	secret.TextStyle = fyne.TextStyle{Monospace: true}
	copied := widget.NewLabel("")
	copyButton := widget.NewButtonWithIcon("Copy", theme.ContentCopyIcon(), func() {
		clip.SetContent(res.TOTPSecret)
		copied.SetText("Copied.")
	})
	items = append(items, widget.NewForm(widget.NewFormItem("Secret",
		container.NewBorder(nil, nil, nil, container.NewHBox(copyButton, copied), secret))))
	return container.NewVBox(items...)
}
