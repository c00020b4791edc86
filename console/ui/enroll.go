package ui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// enrollView creates enrollment tokens for IT (the token, the CA fingerprint
// and the exact install command lines, as selectable text) and revokes
// terminals.
type enrollView struct {
	u       *UI
	uses    *widget.Entry
	ttl     *widget.Select
	create  *widget.Button
	status  *widget.Label
	noName  *widget.Label // the hub has no public name: what to do
	files   *widget.Label // the package files the lines name
	out     map[string]*widget.Label
	outBox  *fyne.Container
	terms   *widget.List
	rows    []protocol.TerminalView
	content fyne.CanvasObject
}

var ttlChoices = map[string]time.Duration{"1 hour": time.Hour, "1 day": 24 * time.Hour, "7 days": 7 * 24 * time.Hour}

var tokenFields = []string{"Token", "CA fingerprint", "Hub", "Expires", "Uses", "carrel-agent", "Windows (MSI)", "Debian/Ubuntu"}

func newEnrollView(u *UI) *enrollView {
	v := &enrollView{u: u, uses: widget.NewEntry(), status: plain(""), noName: plain(""), files: plain(""), out: map[string]*widget.Label{}}
	v.noName.Importance = widget.DangerImportance
	v.noName.Hide()
	v.files.Importance = widget.LowImportance
	v.uses.SetText("1")
	v.ttl = widget.NewSelect([]string{"1 hour", "1 day", "7 days"}, nil)
	v.ttl.SetSelected("1 day")
	v.create = widget.NewButton("Create token", v.createToken)
	v.create.Importance = widget.HighImportance
	form := widget.NewForm(widget.NewFormItem("Uses (PCs)", v.uses), widget.NewFormItem("Valid for", v.ttl))
	outForm := widget.NewForm()
	for _, f := range tokenFields {
		l := selectable("")
		if f != "Expires" && f != "Uses" {
			l.TextStyle = fyne.TextStyle{Monospace: true}
		}
		v.out[f] = l
		outForm.Append(f, l)
	}
	v.outBox = container.NewVBox(outForm, v.files)
	v.outBox.Hide()
	v.terms = widget.NewList(func() int { return len(v.rows) },
		func() fyne.CanvasObject {
			return container.NewBorder(nil, nil, nil, widget.NewButton("Revoke…", nil), listLine())
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			t := v.rows[i]
			c := o.(*fyne.Container)
			c.Objects[0].(*widget.Label).SetText(fmt.Sprintf("%s — %s — certificate expires %s", terminalLabel(t), displayState(t), timeText(t.CertExpires, u.opts.Now())))
			b := c.Objects[1].(*widget.Button)
			if t.Revoked {
				b.Disable()
			} else {
				b.Enable()
			}
			b.OnTapped = func() { v.confirmRevoke(t) }
		})
	reload := widget.NewButton("Refresh list", v.loadTerminals)
	left := container.NewVBox(widget.NewLabelWithStyle("Enroll new PCs", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		plain("A token lets that many PCs enroll until it expires. Give IT the token and one of the command lines."),
		v.noName, form, v.create, v.status, v.outBox)
	right := container.NewBorder(container.NewHBox(widget.NewLabelWithStyle("Terminals", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), reload), nil, nil, nil, v.terms)
	split := container.NewHSplit(container.NewVScroll(left), right)
	split.Offset = 0.55
	v.content = split
	v.loadTerminals()
	v.loadHubInfo()
	return v
}

// noPublicNameText is what the enrollment screen says when the hub was
// started without the name PCs reach it by: its lines would name localhost.
func noPublicNameText(embedded bool) string {
	how := "set carrel-hub serve --name HOST (HOST: the name the library's PCs reach the hub by) and restart the hub"
	if embedded {
		how = "start this console with --embedded-name HOST (HOST: the name the library's PCs reach this computer by)"
	}
	return "This hub has no public name: " + how + ", then create a new token. Until then the lines below name localhost, which works only on the hub's own computer."
}

// showNoPublicName shows or hides the warning.
func (v *enrollView) showNoPublicName(none bool) {
	if !none {
		v.noName.Hide()
		return
	}
	v.noName.SetText(noPublicNameText(v.u.embedded))
	v.noName.Show()
}

// loadHubInfo warns before any token is made when the hub has no public name.
func (v *enrollView) loadHubInfo() {
	v.u.async(func(ctx context.Context) func() {
		info, err := v.u.client.HubInfo(ctx)
		if err != nil {
			return nil
		}
		return func() { v.showNoPublicName(info.NoPublicName) }
	})
}

func (v *enrollView) createToken() {
	uses, err := strconv.Atoi(strings.TrimSpace(v.uses.Text))
	if err != nil || uses < 1 || uses > 10000 {
		v.status.SetText("Uses must be a number from 1 to 10000.")
		return
	}
	args := protocol.TokenArgs{Uses: uses, TTL: ttlChoices[v.ttl.Selected]}
	v.create.Disable()
	v.status.SetText("Creating…")
	v.u.async(func(ctx context.Context) func() {
		tok, err := v.u.client.TokenCreate(ctx, args)
		return func() {
			v.create.Enable()
			if err != nil {
				v.status.SetText("Could not create a token: " + errText(err))
				return
			}
			v.status.SetText("Token created. It is shown only now.")
			v.showNoPublicName(tok.NoPublicName)
			v.files.SetText("")
			if tok.MSIFile != "" && tok.DebFile != "" {
				v.files.SetText(shown("The lines install " + tok.MSIFile + " and " + tok.DebFile +
					", as carrel-package names them for this hub's version; use your file's name if you built another."))
			}
			v.u.admin.pokeAudit()
			set := func(k, s string) { v.out[k].SetText(shown(s)) }
			set("Token", tok.Token)
			set("CA fingerprint", tok.Fingerprint)
			set("Hub", tok.HubURL)
			set("Expires", timeText(tok.ExpiresAt, v.u.opts.Now()))
			set("Uses", strconv.Itoa(tok.Uses))
			set("carrel-agent", tok.AgentCommand)
			set("Windows (MSI)", tok.MSICommand)
			set("Debian/Ubuntu", tok.DebCommand)
			v.outBox.Show()
		}
	})
}

func (v *enrollView) loadTerminals() {
	v.u.async(func(ctx context.Context) func() {
		rows, err := v.u.client.Terminals(ctx)
		return func() {
			if err != nil {
				v.status.SetText("Could not list terminals: " + errText(err))
				return
			}
			v.rows = rows
			v.terms.Refresh()
		}
	})
}

func (v *enrollView) confirmRevoke(t protocol.TerminalView) {
	name := terminalLabel(t)
	confirmDanger(v.u.win, "Revoke "+name+"?",
		"The certificate of "+name+" stops working at once: the PC can no longer reach the hub until it is enrolled again.",
		"Revoke "+name,
		func() {
			v.u.async(func(ctx context.Context) func() {
				err := v.u.client.Revoke(ctx, t.ID)
				return func() {
					if err != nil {
						v.status.SetText("Revoke failed: " + errText(err))
						return
					}
					v.status.SetText("Revoked " + terminalLabel(t) + ".")
					v.u.admin.pokeAudit()
					v.loadTerminals()
				}
			})
		})
}
