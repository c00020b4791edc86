package ui

import (
	"context"
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/auditwatch"
)

// alarmRed is the audit alarm banner's colour; white text reads on it.
var alarmRed = color.NRGBA{0xB7, 0x1C, 0x1C, 0xFF}

// auditBanner is the red banner across the top of the main screen that says
// the hub's audit log went backwards or was rewritten. Once raised it stays
// until the console is pointed at another hub: a rewound chain does not
// become fine by being looked at again.
type auditBanner struct {
	text    *widget.Label
	content *fyne.Container
	parent  *fyne.Container // laid out again when the banner shows
}

func newAuditBanner() *auditBanner {
	b := &auditBanner{text: widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})}
	b.text.Wrapping = fyne.TextWrapWord
	bg := canvas.NewRectangle(alarmRed)
	b.content = container.NewStack(bg, container.NewPadded(container.NewThemeOverride(b.text, whiteText{})))
	b.content.Hide()
	return b
}

func (b *auditBanner) set(text string) {
	if text == "" {
		b.content.Hide()
	} else {
		b.text.SetText(text)
		b.content.Show()
	}
	if b.parent != nil {
		b.parent.Refresh()
	}
}

// checkAuditHead asks the hub for its signed audit head and gives it to the
// keeper (Options.AuditHeads), which checks its signature against the hub's CA
// and compares it with the highest head this console saw of that hub. An alarm
// raises the banner and a notification. Called after login and each reconnect.
func (u *UI) checkAuditHead() {
	k := u.opts.AuditHeads
	if k == nil {
		return
	}
	u.async(func(ctx context.Context) func() {
		info, err := u.client.HubInfo(ctx)
		if err != nil {
			u.log.Warn("Hub info failed", "err", err)
			return nil
		}
		c, err := k.Observe(u.client.CA(), info.AuditHead)
		if err != nil {
			u.log.Error("Keeping the audit head failed", "path", k.Path(), "err", err)
		}
		u.log.Debug("Audit head checked", "verdict", c.Verdict, "seq", c.Got.Seq, "kept", c.Kept.Seq)
		if c.Verdict.Alarm() {
			u.log.Error("Hub audit head alarm", "verdict", c.Verdict, "seq", c.Got.Seq, "kept", c.Kept.Seq, "problem", c.Problem)
		}
		return func() {
			u.headChecks++
			if c.Verdict.Alarm() {
				u.raiseAuditAlarm(c)
			}
		}
	})
}

func (u *UI) raiseAuditAlarm(c auditwatch.Check) {
	first := u.auditAlarm == ""
	u.auditAlarm = c.Text()
	if u.banner != nil {
		u.banner.set(u.auditAlarm)
	}
	if first {
		u.notify("Carrel: audit log alarm", u.auditAlarm)
	}
}

// HeadChecks counts the audit heads checked; on the UI goroutine.
func (u *UI) HeadChecks() int { return u.headChecks }

// AuditAlarm is the audit alarm shown ("" if none); on the UI goroutine.
func (u *UI) AuditAlarm() string { return u.auditAlarm }
