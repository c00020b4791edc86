package ui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// staffView lists staff accounts, creates one (showing its TOTP secret and QR
// code once) and disables one.
type staffView struct {
	u              *UI
	rows           []protocol.StaffView
	list           *widget.List
	user, password *widget.Entry
	role           *widget.Select
	create         *widget.Button
	status         *widget.Label
	content        fyne.CanvasObject
}

func newStaffView(u *UI) *staffView {
	v := &staffView{u: u, user: widget.NewEntry(), password: widget.NewPasswordEntry(), status: plain("")}
	v.role = widget.NewSelect([]string{string(protocol.RoleDesk), string(protocol.RoleAdmin)}, nil)
	v.role.SetSelected(string(protocol.RoleDesk))
	v.create = widget.NewButton("Create account", v.createAccount)
	v.create.Importance = widget.HighImportance
	v.list = widget.NewList(func() int { return len(v.rows) },
		func() fyne.CanvasObject {
			return container.NewBorder(nil, nil, nil, widget.NewButton("Disable…", nil), widget.NewLabel(""))
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			s := v.rows[i]
			c := o.(*fyne.Container)
			state := "active"
			if s.Disabled {
				state = "disabled"
			}
			last := "never logged in"
			if !s.LastLogin.IsZero() {
				last = "last login " + timeText(s.LastLogin, u.opts.Now())
			}
			c.Objects[0].(*widget.Label).SetText(fmt.Sprintf("%s — %s — %s — %s", shown(s.User), shown(string(s.Role)), state, last))
			b := c.Objects[1].(*widget.Button)
			if s.Disabled || s.User == u.login.User {
				b.Disable()
			} else {
				b.Enable()
			}
			b.OnTapped = func() { v.confirmDisable(s.User) }
		})
	form := widget.NewForm(widget.NewFormItem("User", v.user), widget.NewFormItem("Password", v.password), widget.NewFormItem("Role", v.role))
	left := container.NewVBox(widget.NewLabelWithStyle("New staff account", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		plain("desk: watch the room, message, lock, unlock, end sessions. admin: everything."),
		form, v.create, v.status)
	reload := widget.NewButton("Refresh", v.load)
	split := container.NewHSplit(left, container.NewBorder(container.NewHBox(reload), nil, nil, nil, v.list))
	split.Offset = 0.4
	v.content = split
	v.load()
	return v
}

func (v *staffView) load() {
	v.u.async(func(ctx context.Context) func() {
		rows, err := v.u.client.StaffList(ctx)
		return func() {
			if err != nil {
				v.status.SetText("Could not list staff: " + errText(err))
				return
			}
			v.rows = rows
			v.list.Refresh()
		}
	})
}

func (v *staffView) createAccount() {
	args := protocol.StaffCreateArgs{User: strings.TrimSpace(v.user.Text), Password: v.password.Text, Role: protocol.Role(v.role.Selected)}
	switch {
	case args.User == "":
		v.status.SetText("Enter a user name.")
		return
	case len(args.Password) < 12:
		v.status.SetText("Choose a password of at least 12 characters.")
		return
	}
	v.create.Disable()
	v.u.async(func(ctx context.Context) func() {
		res, err := v.u.client.StaffCreate(ctx, args)
		return func() {
			v.create.Enable()
			if err != nil {
				v.status.SetText("Could not create the account: " + errText(err))
				return
			}
			v.user.SetText("")
			v.password.SetText("")
			v.status.SetText("Created " + shown(res.User) + ".")
			v.u.admin.pokeAudit()
			d := dialog.NewCustom("TOTP for "+shown(res.User), "Done", totpPanel(res, v.u.app.Clipboard()), v.u.win)
			d.Show()
			v.load()
		}
	})
}

func (v *staffView) confirmDisable(user string) {
	name := shown(user)
	confirmDanger(v.u.win, "Disable "+name+"?", name+" can no longer log in; their sessions end.", "Disable "+name, func() {
		v.u.async(func(ctx context.Context) func() {
			err := v.u.client.StaffDisable(ctx, user)
			return func() {
				if err != nil {
					v.status.SetText("Could not disable: " + errText(err))
					return
				}
				v.status.SetText("Disabled " + shown(user) + ".")
				v.u.admin.pokeAudit()
				v.load()
			}
		})
	})
}
