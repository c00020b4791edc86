package ui

import (
	"context"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// showConnect is the choice of hub: a remote hub by URL and CA fingerprint, or
// "this computer is the hub" (an embedded hub), when the console offers it.
func (u *UI) showConnect(prev error) {
	hubURL := widget.NewEntry()
	hubURL.SetPlaceHolder("https://hub.library.example:8443")
	fp := widget.NewEntry()
	fp.SetPlaceHolder("CA fingerprint (64 hex digits, from the hub or IT)")
	status := plain(errText(prev))

	connect := widget.NewButton("Connect", nil)
	connect.Importance = widget.HighImportance
	connect.OnTapped = func() {
		if err := u.setHub(hubURL.Text, fp.Text); err != nil {
			status.SetText(errText(err))
			return
		}
		u.openHub()
	}
	form := widget.NewForm(
		widget.NewFormItem("Hub address", hubURL),
		widget.NewFormItem("CA fingerprint", fp),
	)
	items := []fyne.CanvasObject{
		widget.NewLabelWithStyle("Connect to a Carrel hub", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		form, connect,
	}
	if u.opts.Embedded != nil {
		local := widget.NewButton("This computer is the hub", nil)
		local.OnTapped = func() {
			local.Disable()
			u.startEmbedded(func(err error) {
				local.Enable()
				status.SetText("Could not start the hub: " + errText(err))
			})
		}
		u.connectStatus = status
		items = append(items, widget.NewSeparator(),
			plain("For a branch with one desk: run the hub inside this console. Agents then enroll against this computer."),
			local)
	}
	items = append(items, status)
	u.show("connect", container.NewCenter(container.NewGridWrap(fyne.NewSize(560, 420), container.NewVBox(items...))))
}

// startEmbedded starts the hub inside the console, then shows the login screen;
// failed (or the connect screen's status) is told why it could not.
func (u *UI) startEmbedded(failed func(error)) {
	if u.connectStatus != nil {
		u.connectStatus.SetText("Starting the hub on this computer…")
	}
	u.async(func(context.Context) func() {
		// The hub lives as long as the console, not as long as this request.
		url, fingerprint, err := u.opts.Embedded(u.ctx)
		return func() {
			if err == nil {
				err = u.setHub(url, fingerprint)
			}
			if err != nil {
				if failed != nil {
					failed(err)
				} else if u.connectStatus != nil {
					u.connectStatus.SetText("Could not start the hub: " + errText(err))
				}
				return
			}
			u.embedded = true
			if code := u.embeddedSetupCode(); code != "" {
				u.showSetup() // a new hub: create the first admin
				return
			}
			u.openHub()
		}
	})
}

// hubIdentity is the hub the console talks to, as the login and setup screens
// name it: the address chosen and the CA fingerprint pinned.
type hubIdentity struct {
	url, fingerprint string
}

// setHub points the client at a hub and remembers which.
func (u *UI) setHub(url, fingerprint string) error {
	if err := u.client.SetHub(url, fingerprint); err != nil {
		return err
	}
	id := hubIdentity{url: strings.TrimSpace(url), fingerprint: strings.ToLower(strings.TrimSpace(fingerprint))}
	if id != u.hub {
		u.auditAlarm = "" // another hub's alarm is not this one's
	}
	u.hub = id
	return nil
}

// openHub is the first screen of a hub just chosen: the login screen, which
// gives way to first-run setup when the hub answers that it has no staff
// account yet (and nobody has started typing a login meanwhile).
func (u *UI) openHub() {
	u.showLogin(nil)
	v := u.loginView
	v.status.SetText("Asking the hub…")
	u.async(func(ctx context.Context) func() {
		open, err := u.client.SetupOpen(ctx)
		return func() {
			if u.loginView != v || u.win.Content() != v.screen {
				return // another screen since
			}
			switch {
			case err != nil:
				v.status.SetText("Could not reach the hub: " + errText(err))
			case open && v.user.Text == "" && v.password.Text == "":
				u.showSetup()
			default:
				v.status.SetText("")
			}
		}
	})
}

// hubPanel names the hub on the login and setup screens, so staff see which
// hub they are about to give their password to.
func (u *UI) hubPanel() fyne.CanvasObject {
	fp := selectable(groupFingerprint(u.hub.fingerprint))
	fp.TextStyle = fyne.TextStyle{Monospace: true}
	return widget.NewForm(
		widget.NewFormItem("Hub", selectable(shown(u.hub.url))),
		widget.NewFormItem("CA fingerprint", fp),
	)
}

// groupFingerprint writes a hex fingerprint in groups of four, the way it is
// read aloud and compared with what the hub printed.
func groupFingerprint(fp string) string {
	fp = shown(fp)
	var b strings.Builder
	for i, r := range fp {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// embeddedSetupCode is the embedded hub's waiting setup code, if any.
func (u *UI) embeddedSetupCode() string {
	if !u.embedded || u.opts.SetupCode == nil {
		return ""
	}
	return u.opts.SetupCode()
}
