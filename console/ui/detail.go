package ui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// detailView is one terminal: what its agent reports, recent events, and the
// staff actions. Destructive actions (end-session, wipe-now, reboot, shutdown)
// ask for confirmation in a dialog that names the terminal.
type detailView struct {
	u       *UI
	id      string
	title   *widget.Label
	fields  map[string]*widget.Label
	events  *fyne.Container
	message *widget.Entry
	counter *widget.Label
	result  *widget.Label
	why     *widget.Label // why the disabled actions are disabled
	dirty   *widget.Label // why a dirty PC is closed and what to do
	cert    *widget.Label // the agent certificate is near or past its end
	buttons map[protocol.Action]*widget.Button
	busy    map[protocol.Action]bool // sent, no answer yet
	confirm *dialog.ConfirmDialog    // the open confirmation, if any
	grace   *widget.Check            // end-session's "count down first", while its dialog is open
	patron  *patronPanel             // the patron session, its rules, add or remove time (patron.go)
	body    *fyne.Container
	empty   fyne.CanvasObject
	content *fyne.Container
}

// detailFields are the rows of the detail, in order.
var detailFields = []string{"State", "Host name", "OS", "Agent", "Policy", "Uptime", "Agent running",
	"CPU", "Memory", "Disk", "Last wipe", "Certificate expires", "Last seen", "Events lost", "Proof"}

// endSessionGrace is the countdown, in seconds, end-session can give the patron
// (the agent accepts up to 90).
const endSessionGrace = 60

// destructive actions need a confirmation naming the terminal.
var destructive = map[protocol.Action]string{
	protocol.ActionEndSession: "This logs the patron off and wipes their session.",
	protocol.ActionWipeNow:    "This wipes the patron's session now; anything unsaved is lost.",
	protocol.ActionReboot:     "This restarts the computer; the patron's session ends and is wiped.",
	protocol.ActionShutdown:   "This turns the computer off; the patron's session ends and is wiped.",
}

func newDetailView(u *UI) *detailView {
	d := &detailView{u: u, title: widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		fields: map[string]*widget.Label{}, buttons: map[protocol.Action]*widget.Button{}, busy: map[protocol.Action]bool{}}
	d.title.Wrapping = fyne.TextWrapBreak
	form := widget.NewForm()
	for _, f := range detailFields {
		l := plain("")
		d.fields[f] = l
		form.Append(f, l)
	}
	d.message = widget.NewMultiLineEntry()
	d.message.SetPlaceHolder("Message to show on the screen")
	d.message.Wrapping = fyne.TextWrapWord
	d.message.SetMinRowsVisible(2)
	d.counter = widget.NewLabel(fmt.Sprintf("0/%d bytes", protocol.MaxMessageText))
	// The agent takes at most MaxMessageText bytes of UTF-8: the entry holds no
	// more, cut at a character boundary.
	d.message.OnChanged = func(s string) {
		if len(s) > protocol.MaxMessageText {
			cut := s[:protocol.MaxMessageText]
			for !utf8.ValidString(cut) {
				cut = cut[:len(cut)-1]
			}
			d.message.SetText(cut)
			return
		}
		d.counter.SetText(fmt.Sprintf("%d/%d bytes", len(s), protocol.MaxMessageText))
	}
	send := widget.NewButton("Send message", func() {
		text := strings.TrimSpace(d.message.Text)
		if text == "" {
			d.result.SetText("Type a message first.")
			return
		}
		if r, bad := controlRune(text); bad {
			d.result.SetText(fmt.Sprintf("The message holds a control character (%U) the terminal would refuse.", r))
			return
		}
		d.run(protocol.ActionMessage, map[string]string{protocol.ArgText: text})
	})
	d.buttons[protocol.ActionMessage] = send
	row := []fyne.CanvasObject{}
	for _, a := range []struct {
		act   protocol.Action
		label string
	}{
		{protocol.ActionLock, "Lock"}, {protocol.ActionUnlock, "Unlock"}, {protocol.ActionEndSession, "End session"},
		{protocol.ActionWipeNow, "Wipe now"}, {protocol.ActionReboot, "Reboot"}, {protocol.ActionShutdown, "Shut down"},
		{protocol.ActionSelfTest, "Self-test"},
	} {
		if u.login.Role != protocol.RoleAdmin && !protocol.DeskActions[a.act] {
			continue // the hub would refuse it; don't offer it
		}
		act := a.act
		b := widget.NewButton(a.label, func() { d.act(act) })
		if _, ok := destructive[act]; ok {
			b.Importance = widget.DangerImportance
		}
		d.buttons[act] = b
		row = append(row, b)
	}
	d.result = plain("")
	d.why = plain("")
	d.why.Importance = widget.LowImportance
	d.dirty = plain("")
	d.dirty.Importance = widget.DangerImportance
	d.dirty.Hide()
	d.cert = plain("")
	d.cert.Importance = widget.WarningImportance
	d.cert.Hide()
	d.events = container.NewVBox()
	d.patron = newPatronPanel(u)
	// Actions first: staff should not have to scroll to lock a PC.
	d.body = container.NewVBox(d.title,
		d.dirty,
		d.cert,
		container.NewGridWithColumns(3, row...),
		d.why,
		d.message, container.NewBorder(nil, nil, nil, d.counter, send),
		d.result,
		d.patron.content,
		widget.NewSeparator(),
		form,
		widget.NewLabelWithStyle("Recent events", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		d.events)
	d.empty = container.NewCenter(widget.NewLabel("Select a terminal to see its detail."))
	d.content = container.NewStack(d.empty)
	return d
}

// show fills the detail for terminal id from the room model.
func (d *detailView) show(id string) {
	t, ok := d.u.room.model.Get(id)
	if !ok {
		return
	}
	if d.id != id {
		d.id = id
		d.result.SetText("")
		d.message.SetText("")
		d.loadEvents(id)
		d.content.Objects = []fyne.CanvasObject{container.NewVScroll(d.body)}
		d.content.Refresh()
	}
	now := d.u.opts.Now()
	d.title.SetText(terminalLabel(t))
	set := func(k, v string) { d.fields[k].SetText(shown(v)) }
	state := displayState(t).String()
	if s := sinceText(t, now); s != "" {
		state += " " + s
	}
	set("State", state)
	set("Last seen", timeText(t.LastSeen, now))
	cert := t.CertExpires
	s := t.Status
	if s == nil {
		for _, k := range detailFields[1:11] {
			set(k, "not reported")
		}
		set("Events lost", "")
	} else {
		if cert.IsZero() {
			cert = s.CertExpires
		}
		set("Host name", s.Hostname)
		set("OS", strings.TrimSpace(s.OS+" "+s.OSVersion+" "+s.Arch))
		set("Agent", s.AgentVersion)
		set("Policy", orDash(s.PolicyVersion))
		set("Uptime", agoText(s.BootTime, now))
		set("Agent running", fmt.Sprintf("%s, %d restarts since install", agoText(s.AgentStarted, now), s.Restarts))
		set("CPU", fmt.Sprintf("%.0f%%", s.CPUPercent))
		set("Memory", usage(s.MemUsed, s.MemTotal))
		set("Disk", usage(s.DiskUsed, s.DiskTotal))
		set("Last wipe", orDash(s.LastWipe))
		set("Events lost", fmt.Sprint(s.OutboxDropped))
	}
	set("Certificate expires", timeText(cert, now))
	set("Proof", proofText(t, d.u.feed.log.ForTerminal(id, 50), now))
	if _, long := certWarning(t, now); long != "" {
		d.cert.SetText(long)
		d.cert.Show()
	} else {
		d.cert.Hide()
	}
	d.fillEvents(d.u.feed.log.ForTerminal(id, 10))
	d.applyRules(t)
	d.patron.show(t)
	if displayState(t) == protocol.StateDirty {
		d.dirty.SetText(dirtyAdvice(terminalLabel(t), d.u.feed.log.ForTerminal(id, 50)))
		d.dirty.Show()
	} else {
		d.dirty.Hide()
	}
}

// actionOrder is the order reasons are listed in.
var actionOrder = []protocol.Action{protocol.ActionLock, protocol.ActionUnlock, protocol.ActionMessage,
	protocol.ActionEndSession, protocol.ActionWipeNow, protocol.ActionReboot, protocol.ActionShutdown, protocol.ActionSelfTest}

// actionNames are the buttons' words, for the reasons.
var actionNames = map[protocol.Action]string{protocol.ActionLock: "Lock", protocol.ActionUnlock: "Unlock",
	protocol.ActionMessage: "Message", protocol.ActionEndSession: "End session", protocol.ActionWipeNow: "Wipe now",
	protocol.ActionReboot: "Reboot", protocol.ActionShutdown: "Shut down", protocol.ActionSelfTest: "Self-test"}

// whyNot says why action a cannot apply to t now ("" when it can): staff
// see the reason instead of a failure after the click.
func whyNot(t protocol.TerminalView, a protocol.Action) string {
	name := terminalLabel(t)
	switch displayState(t) {
	case protocol.StateRevoked:
		return name + " is revoked"
	case protocol.StateOffline:
		return name + " is offline"
	}
	s := t.Status
	if s == nil {
		return "" // nothing reported yet: let the agent decide
	}
	locked := s.Locked || s.Session == protocol.SessionLocked
	switch a {
	case protocol.ActionLock:
		if locked {
			return name + " is already locked"
		}
	case protocol.ActionUnlock:
		if !locked {
			return name + " is not locked"
		}
	case protocol.ActionMessage, protocol.ActionEndSession:
		switch s.Session {
		case protocol.SessionInUse:
			return ""
		case protocol.SessionWiping:
			return name + " is being wiped"
		}
		return "nobody is using " + name
	case protocol.ActionWipeNow:
		if s.Session == protocol.SessionWiping {
			return name + " is being wiped already"
		}
	}
	return ""
}

// applyRules enables the actions that apply to t and says why the others do
// not (Fyne buttons have no hover text, so the reasons are a line under the
// buttons).
func (d *detailView) applyRules(t protocol.TerminalView) {
	var whys []string              // distinct reasons, in button order
	names := map[string][]string{} // reason → the buttons it disables
	for _, a := range actionOrder {
		b := d.buttons[a]
		if b == nil {
			continue
		}
		why := whyNot(t, a)
		if why == "" && !d.busy[a] {
			b.Enable()
		} else {
			b.Disable()
		}
		if why == "" {
			continue
		}
		if names[why] == nil {
			whys = append(whys, why)
		}
		names[why] = append(names[why], actionNames[a])
	}
	reasons := make([]string, 0, len(whys))
	for _, why := range whys {
		reasons = append(reasons, strings.Join(names[why], ", ")+": "+why)
	}
	if b := d.buttons[protocol.ActionMessage]; b != nil {
		if whyNot(t, protocol.ActionMessage) == "" {
			d.message.Enable()
		} else {
			d.message.Disable()
		}
	}
	if len(reasons) == 0 {
		d.why.SetText("")
		return
	}
	d.why.SetText("Not now: " + strings.Join(reasons, "; ") + ".")
}

// loadEvents asks the hub for the terminal's recent events (the feed only holds
// what arrived since login).
func (d *detailView) loadEvents(id string) {
	d.fillEvents(d.u.feed.log.ForTerminal(id, 10))
	d.u.async(func(ctx context.Context) func() {
		evs, err := d.u.client.Events(ctx, protocol.EventsArgs{Terminal: id, Limit: 10})
		return func() {
			if err != nil || d.u.room == nil {
				return
			}
			d.u.addEvents(evs, false)
			if d.id == id {
				d.fillEvents(d.u.feed.log.ForTerminal(id, 10))
			}
		}
	})
}

func (d *detailView) fillEvents(evs []protocol.EventView) {
	objs := make([]fyne.CanvasObject, 0, len(evs))
	for _, e := range evs {
		// A sentence; a click shows the whole record.
		objs = append(objs, newTapBox(plain(eventLine(e, "")), func() {
			pc := d.u.terminalName(e.Terminal)
			dialog.ShowCustom("Event on "+pc, "Close", selectable(rawEvent(e, pc)), d.u.win)
		}))
	}
	if len(objs) == 0 {
		objs = append(objs, widget.NewLabel("No events."))
	}
	d.events.Objects = objs
	d.events.Refresh()
}

// act runs an action, after a confirmation for destructive ones.
func (d *detailView) act(a protocol.Action) {
	why, ok := destructive[a]
	if !ok {
		d.run(a, nil)
		return
	}
	t, _ := d.u.room.model.Get(d.id)
	name := terminalLabel(t)
	id := d.id
	title := fmt.Sprintf("%s on %s?", a, name)
	if a != protocol.ActionEndSession {
		d.confirm = dialog.NewConfirm(title, why, func(yes bool) {
			d.confirm = nil
			if yes && d.id == id {
				d.run(a, nil)
			}
		}, d.u.win)
	} else {
		// A patron still at the PC gets a countdown to save their work.
		d.grace = widget.NewCheck(fmt.Sprintf("Count down %d s on the patron's screen first, so they can save their work", endSessionGrace), nil)
		content := container.NewVBox(widget.NewLabel(why), d.grace)
		d.confirm = dialog.NewCustomConfirm(title, "Yes, "+string(a), "Cancel", content, func(yes bool) {
			d.confirm = nil
			if yes && d.id == id {
				var args map[string]string
				if d.grace.Checked {
					args = map[string]string{protocol.ArgGrace: strconv.Itoa(endSessionGrace)}
				}
				d.run(a, args)
			}
		}, d.u.win)
	}
	d.confirm.SetConfirmText("Yes, " + string(a))
	d.confirm.SetDismissText("Cancel")
	d.confirm.SetConfirmImportance(widget.DangerImportance)
	d.confirm.Show()
}

// run sends the command and shows the agent's Result or the error.
func (d *detailView) run(a protocol.Action, args map[string]string) {
	id := d.id
	d.busy[a] = true
	if b := d.buttons[a]; b != nil {
		b.Disable()
	}
	d.result.SetText(fmt.Sprintf("%s: waiting for the terminal…", a))
	d.u.async(func(ctx context.Context) func() {
		res, err := d.u.client.Command(ctx, id, a, args)
		return func() {
			delete(d.busy, a)
			if d.u.room == nil {
				return // logged out meanwhile
			}
			if t, ok := d.u.room.model.Get(d.id); ok {
				d.applyRules(t)
			}
			if d.id != id {
				return
			}
			switch {
			case err != nil:
				d.result.SetText(fmt.Sprintf("%s failed: %s", a, errText(err)))
			case !res.OK:
				d.result.SetText(fmt.Sprintf("%s refused by the terminal: %s", a, shown(res.Error)))
			default:
				msg := fmt.Sprintf("%s: done", a)
				if res.Output != "" {
					msg += " (" + shown(res.Output) + ")"
				}
				d.result.SetText(msg)
				if a == protocol.ActionMessage {
					d.message.SetText("")
				}
			}
		}
	})
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func usage(used, total uint64) string {
	if total == 0 {
		return "—"
	}
	return fmt.Sprintf("%s of %s (%.0f%%)", bytesText(used), bytesText(total), 100*float64(used)/float64(total))
}

func bytesText(n uint64) string {
	const gib = 1 << 30
	if n >= gib {
		return fmt.Sprintf("%.1f GiB", float64(n)/gib)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

// agoText is a duration since t ("3h 4m"), or a dash.
func agoText(t, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return shortDuration(now.Sub(t))
}

// timeText is a UTC timestamp with how far away it is.
func timeText(t, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	rel := "in " + shortDuration(t.Sub(now))
	if t.Before(now) {
		rel = shortDuration(now.Sub(t)) + " ago"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC") + " (" + rel + ")"
}

// controlRune finds a character the agent refuses in a message: a control
// character other than a line break, or a bidirectional control.
func controlRune(s string) (rune, bool) {
	for _, r := range strings.ReplaceAll(s, "\r\n", "\n") {
		if r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)) {
			return r, true
		}
	}
	return 0, false
}
