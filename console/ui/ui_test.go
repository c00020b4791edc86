package ui

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/auditwatch"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Golden markup lives in testdata/*.xml. After an intended change to a screen,
// rewrite it with:
//
//	CGO_ENABLED=0 go test ./console/ui -run Golden -update
//
// and review the diff like code.
var update = flag.Bool("update", false, "rewrite the golden markup under testdata")

var clock = time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)

const hostile = "**pc** [x](http://evil)\u202e"

// harness is a console in a test window whose UI goroutine is the test's own:
// everything the bridge hands to "fyne.Do" is queued and run by wait, so the
// test never reads a widget while another goroutine writes it.
type harness struct {
	t     testing.TB
	app   fyne.App
	win   fyne.Window
	ui    *UI
	hub   *fakeHub
	queue chan func()
}

func newHarness(t testing.TB, role protocol.Role) *harness {
	return newHarnessOpts(t, role, Options{HubURL: "https://hub.test:8443", Fingerprint: strings.Repeat("ab", 32)})
}

func newHarnessOpts(t testing.TB, role protocol.Role, opts Options) *harness {
	return newHarnessHub(t, newFakeHub(role), opts)
}

// newHarnessHub is a console on hub, which the test set up before the console
// first asks it anything.
func newHarnessHub(t testing.TB, hub *fakeHub, opts Options) *harness {
	t.Helper()
	a := test.NewTempApp(t)
	w := a.NewWindow("Carrel")
	h := &harness{t: t, app: a, win: w, hub: hub, queue: make(chan func(), 1<<16)}
	opts.Now = func() time.Time { return clock }
	opts.Do = func(f func()) { h.queue <- f }
	opts.Tick = -1
	h.ui = Create(a, w, h.hub, opts)
	w.Resize(fyne.NewSize(1200, 760))
	t.Cleanup(func() { h.ui.Close(); w.Close() })
	return h
}

// wait runs queued UI work until cond holds, failing after a deadline.
func (h *harness) wait(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case f := <-h.queue:
			f()
		case <-deadline.C:
			h.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// drain runs the UI work queued so far and whatever it queues in turn, until
// the queue stays empty while background requests finish.
func (h *harness) drain() {
	for {
		select {
		case f := <-h.queue:
			f()
		case <-time.After(50 * time.Millisecond):
			return
		}
	}
}

func (h *harness) login(user string) {
	h.t.Helper()
	v := h.ui.loginView
	if v == nil {
		h.t.Fatal("no login screen")
	}
	test.Type(v.user, user)
	test.Type(v.password, "correct horse battery")
	test.Type(v.code, "123456")
	test.Tap(v.submit)
	h.wait("the room after login", func() bool { return h.ui.room != nil })
}

func term(id, name string, online bool, s protocol.SessionState, locked bool) protocol.TerminalView {
	return protocol.TerminalView{ID: id, Name: name, Online: online, LastSeen: clock.Add(-time.Minute),
		Since: clock.Add(-17 * time.Minute),
		Status: &protocol.Status{Hostname: name + ".branch.local", OS: "linux", OSVersion: "debian 12.7", Arch: "amd64",
			AgentVersion: "0.1.0", PolicyVersion: "p7", BootTime: clock.Add(-26 * time.Hour), AgentStarted: clock.Add(-3 * time.Hour),
			Restarts: 2, CPUPercent: 12, MemUsed: 3 << 30, MemTotal: 8 << 30, DiskUsed: 40 << 30, DiskTotal: 120 << 30,
			Session: s, Locked: locked, LastWipe: "clean 412ms", CertExpires: clock.Add(60 * 24 * time.Hour)}}
}

// tiles returns the tiles on screen by their name's text.
func (h *harness) tiles() map[string]*tile {
	out := map[string]*tile{}
	for _, o := range objects(h.win.Content()) {
		if t, ok := o.(*tile); ok && t.Visible() && t.name.Text != "" {
			out[t.name.Text] = t
		}
	}
	return out
}

// objects lists o and everything under it as rendered now (unlike
// test.LaidOutObjects it lays nothing out, so a grid keeps its items).
func objects(o fyne.CanvasObject) []fyne.CanvasObject {
	out := []fyne.CanvasObject{o}
	switch v := o.(type) {
	case *fyne.Container:
		for _, c := range v.Objects {
			out = append(out, objects(c)...)
		}
	case fyne.Widget:
		for _, c := range test.WidgetRenderer(v).Objects() {
			out = append(out, objects(c)...)
		}
	}
	return out
}

func findButton(root fyne.CanvasObject, text string) *widget.Button {
	for _, o := range objects(root) {
		if b := asButton(o); b != nil && b.Text == text && b.Visible() {
			return b
		}
	}
	return nil
}

// asButton is o as a button: a widget.Button, or the one inside a dialog's
// default button.
func asButton(o fyne.CanvasObject) *widget.Button {
	switch b := o.(type) {
	case *widget.Button:
		return b
	case *defaultButton:
		return &b.Button
	}
	return nil
}

// button is findButton that fails the test when the button is missing.
func (h *harness) button(root fyne.CanvasObject, text string) *widget.Button {
	h.t.Helper()
	if b := findButton(root, text); b != nil {
		return b
	}
	var have []string
	for _, o := range objects(root) {
		if b := asButton(o); b != nil {
			have = append(have, b.Text)
		}
	}
	h.t.Fatalf("no button %q; buttons: %q", text, have)
	return nil
}

func labelTexts(root fyne.CanvasObject) []string {
	var out []string
	for _, o := range objects(root) {
		switch l := o.(type) {
		case *widget.Label:
			out = append(out, l.Text)
		case *canvas.Text:
			out = append(out, l.Text)
		}
	}
	return out
}

func TestLoginSendsWhatWasTyped(t *testing.T) {
	h := newHarness(t, protocol.RoleDesk)
	h.hub.loginErr = errors.New("wrong user, password or code")
	v := h.ui.loginView
	test.Type(v.user, "ann")
	test.Tap(v.submit)
	if got := v.status.Text; !strings.Contains(got, "Enter your user name") {
		t.Fatalf("incomplete form: status %q", got)
	}
	test.Type(v.password, "pw")
	test.Type(v.code, "654321")
	test.Tap(v.submit)
	h.wait("the login error", func() bool { return v.status.Text == "wrong user, password or code" })
	if h.ui.room != nil {
		t.Fatal("a refused login opened the room")
	}
	if v.password.Text != "" || v.code.Text != "" {
		t.Fatal("password and code were kept after a refused login")
	}
	h.hub.loginErr = nil
	test.Type(v.password, "pw2")
	test.Type(v.code, "111111")
	test.Tap(v.submit)
	h.wait("the room", func() bool { return h.ui.room != nil })
	want := []protocol.LoginRequest{{User: "ann", Password: "pw", TOTP: "654321"}, {User: "ann", Password: "pw2", TOTP: "111111"}}
	if !reflect.DeepEqual(h.hub.logins, want) {
		t.Fatalf("logins %+v, want %+v", h.hub.logins, want)
	}
}

func TestDeskHasNoAdminTabs(t *testing.T) {
	for _, c := range []struct {
		role protocol.Role
		tabs []string
	}{
		{protocol.RoleDesk, []string{"Room", "Events", "Alerts", "Reports"}},
		{protocol.RoleAdmin, []string{"Room", "Events", "Alerts", "Quarantine", "Enrollment", "Staff", "Audit", "API", "Reports"}},
	} {
		t.Run(string(c.role), func(t *testing.T) {
			h := newHarness(t, c.role)
			h.login("ann")
			if got := h.ui.TabNames(); !reflect.DeepEqual(got, c.tabs) {
				t.Fatalf("tabs %v, want %v", got, c.tabs)
			}
			h.hub.send(protocol.StaffPush{Terminal: ptr(term("t1", "pc-01", true, protocol.SessionInUse, false))})
			h.wait("the tile", func() bool { return h.tiles()["pc-01"] != nil })
			h.ui.room.open("t1")
			reboot := findButton(h.ui.room.detail.content, "Reboot")
			if (reboot != nil) != (c.role == protocol.RoleAdmin) {
				t.Fatalf("%s: reboot button present = %v", c.role, reboot != nil)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestTilesFollowPushes(t *testing.T) {
	h := newHarness(t, protocol.RoleDesk)
	h.hub.terminals = []protocol.TerminalView{term("t1", "pc-01", true, protocol.SessionFree, false)}
	h.login("ann")
	h.wait("the first tile", func() bool { return h.tiles()["pc-01"] != nil })
	if got := h.tiles()["pc-01"].state.Text; got != protocol.StateFree.String() {
		t.Fatalf("tile state %q, want free", got)
	}

	h.hub.send(protocol.StaffPush{Terminal: ptr(term("t1", "pc-01", true, protocol.SessionInUse, false))})
	h.hub.send(protocol.StaffPush{Terminal: ptr(term("t2", "pc-02", true, protocol.SessionDirty, false))})
	h.hub.send(protocol.StaffPush{Terminal: ptr(term("t3", "pc-03", false, protocol.SessionFree, false))})
	h.wait("the pushed states", func() bool {
		ts := h.tiles()
		return ts["pc-01"] != nil && ts["pc-01"].state.Text == protocol.StateInUse.String() &&
			ts["pc-02"] != nil && ts["pc-02"].state.Text == protocol.StateDirty.String() &&
			ts["pc-03"] != nil && ts["pc-03"].state.Text == protocol.StateOffline.String()
	})
	m := h.ui.Room()
	for s, n := range map[protocol.DisplayState]int{protocol.StateFree: 0, protocol.StateInUse: 1, protocol.StateDirty: 1, protocol.StateOffline: 1} {
		if m.Count(s) != n {
			t.Errorf("count %s = %d, want %d", s, m.Count(s), n)
		}
		if got, want := h.ui.room.counts[s].Text, fmt.Sprintf("%s %d", s, n); got != want {
			t.Errorf("header %q, want %q", got, want)
		}
	}
	if got := h.tiles()["pc-02"].bg.FillColor; got != stateColors[protocol.StateDirty] {
		t.Errorf("dirty tile colour %v", got)
	}
	if got := h.tiles()["pc-01"].time.Text; got != "for 17m" {
		t.Errorf("time in state %q, want \"for 17m\"", got)
	}

	// Filter and search.
	h.ui.room.filter.SetSelected(protocol.StateDirty.String())
	if got := len(h.tiles()); got != 1 || h.tiles()["pc-02"] == nil {
		t.Fatalf("filter dirty shows %v", h.tiles())
	}
	h.ui.room.filter.SetSelected(filterAll)
	test.Type(h.ui.room.search, "03")
	if ts := h.tiles(); len(ts) != 1 || ts["pc-03"] == nil {
		t.Fatalf("search 03 shows %v", ts)
	}
}

// openDetail taps the grid item that holds the terminal's tile, as a click on
// the tile would.
func (h *harness) openDetail(name string) {
	h.t.Helper()
	tl := h.tiles()[name]
	if tl == nil {
		h.t.Fatalf("no tile %q", name)
	}
	var item fyne.Tappable
	for _, o := range objects(h.ui.room.grid) {
		tp, ok := o.(fyne.Tappable)
		if !ok || o == fyne.CanvasObject(h.ui.room.grid) {
			continue
		}
		for _, in := range objects(o) {
			if in == fyne.CanvasObject(tl) {
				item = tp
			}
		}
	}
	if item == nil {
		h.t.Fatalf("no tappable grid item holds tile %q", name)
	}
	test.Tap(item)
	h.wait("the detail of "+name, func() bool { return h.ui.room.detail.title.Text == name })
}

func TestActionsReachTheHub(t *testing.T) {
	h := newHarness(t, protocol.RoleDesk)
	h.hub.terminals = []protocol.TerminalView{term("t1", "pc-01", true, protocol.SessionInUse, false), term("t2", "pc-02", true, protocol.SessionFree, false)}
	h.login("ann")
	h.wait("tiles", func() bool { return len(h.tiles()) == 2 })
	h.openDetail("pc-01")
	d := h.ui.room.detail

	test.Tap(h.button(d.content, "Lock"))
	h.wait("the lock result", func() bool { return d.result.Text == "lock: done (lock ok)" })
	// The agent reports itself locked (the fake hub does not change state by
	// itself): only now does Unlock apply.
	h.hub.send(protocol.StaffPush{Terminal: ptr(term("t1", "pc-01", true, protocol.SessionInUse, true))})
	h.wait("Unlock enabled", func() bool { return !h.button(d.content, "Unlock").Disabled() })

	long := "a" + strings.Repeat("é", protocol.MaxMessageText)
	test.Type(d.message, long)
	if n := len(d.message.Text); n != protocol.MaxMessageText-1 || !utf8.ValidString(d.message.Text) {
		t.Fatalf("message entry holds %d bytes (valid UTF-8: %v), want %d: cut at the limit on a character boundary",
			n, utf8.ValidString(d.message.Text), protocol.MaxMessageText-1)
	}
	d.message.SetText("Closing\u202e in 10 minutes")
	test.Tap(h.button(d.content, "Send message"))
	if !strings.Contains(d.result.Text, "U+202E") {
		t.Fatalf("a bidi control was not caught before sending: %q", d.result.Text)
	}
	d.message.SetText("Closing in 10 minutes")
	test.Tap(h.button(d.content, "Send message"))
	h.wait("the message result", func() bool { return d.result.Text == "message: done (message ok)" })

	h.hub.result = func(s sent) (protocol.Result, error) {
		return protocol.Result{OK: false, Error: "already unlocked"}, nil
	}
	test.Tap(h.button(d.content, "Unlock"))
	h.wait("the refusal", func() bool { return d.result.Text == "unlock refused by the terminal: already unlocked" })
	h.hub.send(protocol.StaffPush{Terminal: ptr(term("t1", "pc-01", true, protocol.SessionInUse, false))})
	h.wait("Lock enabled", func() bool { return !h.button(d.content, "Lock").Disabled() })
	h.hub.result = func(s sent) (protocol.Result, error) { return protocol.Result{}, errors.New("hub: terminal offline") }
	test.Tap(h.button(d.content, "Lock"))
	h.wait("the error", func() bool { return d.result.Text == "lock failed: hub: terminal offline" })

	want := []sent{
		{"t1", protocol.ActionLock, nil},
		{"t1", protocol.ActionMessage, map[string]string{protocol.ArgText: "Closing in 10 minutes"}},
		{"t1", protocol.ActionUnlock, nil},
		{"t1", protocol.ActionLock, nil},
	}
	got := h.hub.sentCommands()
	if len(got) != len(want) {
		t.Fatalf("commands %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Terminal != want[i].Terminal || got[i].Action != want[i].Action || !maps.Equal(got[i].Args, want[i].Args) {
			t.Fatalf("command %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestDestructiveActionsAskFirst(t *testing.T) {
	h := newHarness(t, protocol.RoleAdmin)
	h.hub.terminals = []protocol.TerminalView{term("t1", "pc-01", true, protocol.SessionInUse, false)}
	h.login("root")
	h.wait("tile", func() bool { return len(h.tiles()) == 1 })
	h.openDetail("pc-01")
	d := h.ui.room.detail
	for _, c := range []struct {
		button string
		action protocol.Action
	}{{"End session", protocol.ActionEndSession}, {"Wipe now", protocol.ActionWipeNow}, {"Reboot", protocol.ActionReboot}, {"Shut down", protocol.ActionShutdown}} {
		before := len(h.hub.sentCommands())
		test.Tap(h.button(d.content, c.button))
		top := h.win.Canvas().Overlays().Top()
		if top == nil {
			t.Fatalf("%s: no confirmation dialog", c.button)
		}
		title := fmt.Sprintf("%s on pc-01?", c.action)
		if !strings.Contains(strings.Join(labelTexts(top), "\n"), title) {
			t.Fatalf("%s: dialog does not name the terminal; texts %q", c.button, labelTexts(top))
		}
		test.Tap(h.button(top, "Cancel"))
		h.drain()
		if n := len(h.hub.sentCommands()); n != before {
			t.Fatalf("%s: cancel sent a command", c.button)
		}
		if h.win.Canvas().Overlays().Top() != nil {
			t.Fatalf("%s: dialog still open after cancel", c.button)
		}

		test.Tap(h.button(d.content, c.button))
		top = h.win.Canvas().Overlays().Top()
		test.Tap(h.button(top, "Yes, "+string(c.action)))
		h.wait(c.button+" sent", func() bool { return len(h.hub.sentCommands()) == before+1 })
		got := h.hub.sentCommands()[before]
		if got.Terminal != "t1" || got.Action != c.action || len(got.Args) != 0 {
			t.Fatalf("%s: sent %+v", c.button, got)
		}
		h.wait(c.button+" result", func() bool { return strings.HasPrefix(d.result.Text, string(c.action)+": done") })
	}
}

// End session can give the patron a countdown: ticked in its dialog, the
// command carries grace=60; unticked (the default) it carries nothing.
func TestEndSessionCountdownOption(t *testing.T) {
	h := newHarness(t, protocol.RoleDesk)
	h.hub.terminals = []protocol.TerminalView{term("t1", "pc-01", true, protocol.SessionInUse, false)}
	h.login("ann")
	h.wait("tile", func() bool { return len(h.tiles()) == 1 })
	h.openDetail("pc-01")
	d := h.ui.room.detail
	test.Tap(h.button(d.content, "End session"))
	top := h.win.Canvas().Overlays().Top()
	var check *widget.Check
	for _, o := range objects(top) {
		if c, ok := o.(*widget.Check); ok {
			check = c
		}
	}
	if check == nil || check.Checked || !strings.Contains(check.Text, "Count down 60 s") {
		t.Fatalf("end-session dialog's countdown option: %+v", check)
	}
	test.Tap(check)
	test.Tap(h.button(top, "Yes, end-session"))
	h.wait("end-session sent", func() bool { return len(h.hub.sentCommands()) == 1 })
	if got := h.hub.sentCommands()[0]; got.Action != protocol.ActionEndSession || !maps.Equal(got.Args, map[string]string{protocol.ArgGrace: "60"}) {
		t.Fatalf("sent %+v, want end-session with grace 60", got)
	}
}

func TestHostileTextIsPlain(t *testing.T) {
	h := newHarness(t, protocol.RoleAdmin)
	tv := term("t1", hostile, true, protocol.SessionInUse, false)
	tv.Status.Hostname = hostile
	tv.Status.LastWipe = "<b>clean</b> [ok](file:///etc/passwd)"
	h.hub.terminals = []protocol.TerminalView{tv}
	h.hub.events = []protocol.EventView{{ID: 1, Terminal: "t1", Kind: protocol.EventDownloadBlocked, Severity: protocol.SeverityAlert,
		Time: clock, Data: map[string]string{"name": "# invoice.pdf\u202eexe.scr"}}}
	h.login("root")
	// Markdown and links stay literal; the right-to-left override is shown as
	// its escape (TestAgentTextIsEscaped).
	shownHostile := protocol.Printable(hostile)
	h.wait("the hostile tile", func() bool { return h.tiles()[shownHostile] != nil })
	if got := h.tiles()[shownHostile].name.Text; got != shownHostile {
		t.Fatalf("tile name %q, want %q", got, shownHostile)
	}
	h.openDetail(shownHostile)
	d := h.ui.room.detail
	if d.title.Text != shownHostile || d.fields["Host name"].Text != shownHostile {
		t.Fatalf("detail title %q host %q", d.title.Text, d.fields["Host name"].Text)
	}
	if got := d.fields["Last wipe"].Text; got != tv.Status.LastWipe {
		t.Fatalf("last wipe %q", got)
	}
	h.wait("the event in the detail", func() bool {
		return strings.Contains(strings.Join(labelTexts(d.events), "\n"), `Blocked # invoice.pdf\u202eexe.scr, a Windows program`)
	})
	for _, o := range objects(h.win.Content()) {
		switch w := o.(type) {
		case *widget.Hyperlink:
			t.Fatalf("a hyperlink is on screen: %q", w.Text)
		case *widget.RichText:
			for _, s := range w.Segments {
				if _, ok := s.(*widget.TextSegment); !ok {
					t.Fatalf("rich text segment %T on screen", s)
				}
			}
		}
	}
}

func TestAlertsNotify(t *testing.T) {
	h := newHarness(t, protocol.RoleDesk)
	h.hub.terminals = []protocol.TerminalView{term("t1", "pc-01", true, protocol.SessionInUse, false)}
	h.login("ann")
	h.wait("tile", func() bool { return len(h.tiles()) == 1 })
	test.AssertNotificationSent(t, fyne.NewNotification("Carrel alert", "pc-01: exec.blocked"), func() {
		h.hub.send(protocol.StaffPush{Event: &protocol.EventView{ID: 7, Terminal: "t1", Kind: protocol.EventExecBlocked, Severity: protocol.SeverityAlert, Time: clock}})
		h.wait("the alert", func() bool { return len(h.ui.feed.alertRows) == 1 })
	})
	test.AssertNotificationSent(t, fyne.NewNotification("Terminal offline", "pc-01 went offline"), func() {
		h.hub.send(protocol.StaffPush{Terminal: ptr(term("t1", "pc-01", false, protocol.SessionInUse, false))})
		h.wait("offline list", func() bool { return len(h.ui.feed.offlineRows) == 1 })
	})
	// An info event is in the feed, not in the alerts, and raises nothing.
	test.AssertNotificationSent(t, nil, func() {
		h.hub.send(protocol.StaffPush{Event: &protocol.EventView{ID: 8, Terminal: "t1", Kind: protocol.EventSessionStarted, Severity: protocol.SeverityInfo, Time: clock}})
		h.wait("the feed", func() bool { return len(h.ui.feed.log.All()) == 2 })
	})
	if len(h.ui.feed.alertRows) != 1 {
		t.Fatalf("alerts %d, want 1", len(h.ui.feed.alertRows))
	}
	// A repeated event (catch-up overlap) is shown once.
	h.hub.send(protocol.StaffPush{Event: &protocol.EventView{ID: 8, Terminal: "t1", Kind: protocol.EventSessionStarted, Severity: protocol.SeverityInfo, Time: clock}})
	h.drain()
	if n := len(h.ui.feed.log.All()); n != 2 {
		t.Fatalf("feed holds %d events after a repeat, want 2", n)
	}
}

func TestSessionEndedReturnsToLogin(t *testing.T) {
	h := newHarness(t, protocol.RoleDesk)
	h.login("ann")
	h.hub.setLink(false, errors.New("read: connection reset"))
	h.wait("reconnecting text", func() bool { return strings.HasPrefix(h.ui.linkLabel.Text, "Reconnecting") })
	h.hub.setLink(false, ErrSessionEnded)
	h.wait("login screen", func() bool { return h.ui.room == nil })
	if got := h.ui.loginView.status.Text; got != ErrSessionEnded.Error() {
		t.Fatalf("login status %q", got)
	}
}

func TestAdminScreens(t *testing.T) {
	h := newHarness(t, protocol.RoleAdmin)
	h.hub.terminals = []protocol.TerminalView{term("t1", "pc-01", true, protocol.SessionFree, false)}
	h.hub.quarantine = []protocol.QuarantineView{{Terminal: "t1", ID: "q-9", Name: "setup.exe", SHA256: "00ff", Size: 1234, Reason: "PE executable", Time: clock}}
	h.hub.audit = []protocol.AuditView{{ID: 1, Time: clock, Actor: "root", Action: protocol.AuditCommand, Terminal: "t1", Result: "ok"}}
	h.hub.verify = protocol.AuditVerifyView{OK: false, Rows: 3, BadRow: 2, Problem: "hash does not chain"}
	h.login("root")
	content := h.ui.tabs.Items

	// Quarantine: pick the record, release it (confirmed), the command carries its id.
	q := content[3].Content
	var qv *quarantineView
	h.wait("quarantine rows and the room", func() bool {
		qv = h.ui.admin.quarantine
		return qv != nil && len(qv.rows) == 1 && h.ui.Room().Len() == 1
	})
	qv.list.Select(0)
	if qv.fields["File"].Text != "setup.exe" || qv.fields["Record ID"].Text != "q-9" {
		t.Fatalf("quarantine detail %q %q", qv.fields["File"].Text, qv.fields["Record ID"].Text)
	}
	h.ui.tabs.SelectIndex(3)
	test.Tap(h.button(q, "Release to the patron…"))
	top := h.win.Canvas().Overlays().Top()
	if top == nil {
		t.Fatal("release asked nothing")
	}
	test.Tap(h.button(top, "Release setup.exe to pc-01"))
	h.wait("release sent", func() bool { return len(h.hub.sentCommands()) == 1 })
	if got := h.hub.sentCommands()[0]; got.Terminal != "t1" || got.Action != protocol.ActionReleaseQuarantine || !maps.Equal(got.Args, map[string]string{protocol.ArgQuarantineID: "q-9"}) {
		t.Fatalf("release sent %+v", got)
	}

	// Enrollment: a token for 25 PCs for 7 days; the commands are shown as text.
	ev := h.ui.admin.enroll
	ev.uses.SetText("25")
	ev.ttl.SetSelected("7 days")
	test.Tap(ev.create)
	h.wait("the token", func() bool { return ev.out["Token"].Text == "ctok_abc" })
	if ev.out["Windows (MSI)"].Text != "msiexec /i carrel-agent.msi /qn HUB_URL=wss://hub:8443 ENROLL_TOKEN=ctok_abc" || !ev.out["Windows (MSI)"].Selectable {
		t.Fatalf("MSI line %q", ev.out["Windows (MSI)"].Text)
	}
	if got := h.hub.tokens; len(got) != 1 || got[0].Uses != 25 || got[0].TTL != 7*24*time.Hour {
		t.Fatalf("token args %+v", got)
	}

	// Staff: create a desk account; its TOTP secret is shown.
	sv := h.ui.admin.staff
	test.Type(sv.user, "bea")
	test.Type(sv.password, "long enough password")
	test.Tap(sv.create)
	h.wait("the TOTP dialog", func() bool {
		top := h.win.Canvas().Overlays().Top()
		return top != nil && strings.Contains(strings.Join(labelTexts(top), "\n"), "KRSXG5CTMVRXEZLU")
	})
	if got := h.hub.created; len(got) != 1 || got[0].User != "bea" || got[0].Role != protocol.RoleDesk {
		t.Fatalf("staff created %+v", got)
	}

	// Staff: disable bea (confirmed) after closing the TOTP dialog.
	test.Tap(h.button(h.win.Canvas().Overlays().Top(), "Done"))
	h.wait("bea in the staff list", func() bool { return len(sv.rows) == 1 })
	h.ui.tabs.SelectIndex(5)
	test.Tap(h.button(sv.content, "Disable…"))
	top = h.win.Canvas().Overlays().Top()
	if top == nil || !strings.Contains(strings.Join(labelTexts(top), "\n"), "Disable bea?") {
		t.Fatal("disabling asked nothing or did not name the account")
	}
	test.Tap(h.button(top, "Disable bea"))
	h.wait("bea disabled", func() bool {
		h.hub.mu.Lock()
		defer h.hub.mu.Unlock()
		return len(h.hub.disabled) == 1 && h.hub.disabled[0] == "bea"
	})

	// Enrollment: revoke pc-01 (confirmed); cancel first sends nothing.
	h.ui.tabs.SelectIndex(4)
	h.wait("terminals in the enrollment list", func() bool { return len(ev.rows) == 1 })
	test.Tap(h.button(ev.content, "Revoke…"))
	test.Tap(h.button(h.win.Canvas().Overlays().Top(), "Cancel"))
	h.drain()
	test.Tap(h.button(ev.content, "Revoke…"))
	test.Tap(h.button(h.win.Canvas().Overlays().Top(), "Revoke pc-01"))
	h.wait("pc-01 revoked", func() bool { return ev.status.Text == "Revoked pc-01." })
	h.hub.mu.Lock()
	revoked := slices.Clone(h.hub.revoked)
	h.hub.mu.Unlock()
	if !reflect.DeepEqual(revoked, []string{"t1"}) {
		t.Fatalf("revoked %v, want [t1]", revoked)
	}

	// Audit: verify shows the bad row.
	av := h.ui.admin.audit
	test.Tap(av.verify)
	h.wait("verify result", func() bool { return av.result.Text == "BROKEN at row 2 of 3: hash does not chain" })
}

func TestFirstRunSetupShowsSecretAndQR(t *testing.T) {
	h := newHarness(t, protocol.RoleAdmin)
	test.Tap(h.ui.loginView.setup)
	v := h.ui.setupView
	test.Type(v.code, "K7Q2-XW")
	test.Type(v.user, "root")
	test.Type(v.password, "a long passphrase")
	test.Type(v.confirm, "a long passphrase!")
	test.Tap(v.submit)
	if v.status.Text != "The two passwords differ." {
		t.Fatalf("status %q", v.status.Text)
	}
	v.confirm.SetText("a long passphrase")
	test.Tap(v.submit)
	var img *canvas.Image
	h.wait("the TOTP screen", func() bool {
		for _, o := range objects(h.win.Content()) {
			if i, ok := o.(*canvas.Image); ok && i.Resource != nil && i.Resource.Name() == "totp-qr.png" {
				img = i
			}
		}
		return img != nil
	})
	if !strings.Contains(strings.Join(labelTexts(h.win.Content()), "\n"), "JBSWY3DPEHPK3PXP") {
		t.Fatal("the TOTP secret is not shown as text")
	}
	if got := h.hub.setups; len(got) != 1 || got[0] != (protocol.SetupRequest{SetupCode: "K7Q2-XW", User: "root", Password: "a long passphrase"}) {
		t.Fatalf("setup requests %+v", got)
	}
}

// golden checks the window against testdata/name, or rewrites it with -update.
func (h *harness) golden(name string) {
	h.t.Helper()
	if *update {
		path := filepath.Join("testdata", name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			h.t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(test.RenderToMarkup(h.win.Canvas())), 0o644); err != nil {
			h.t.Fatal(err)
		}
	}
	test.AssertRendersToMarkup(h.t.(*testing.T), name, h.win.Canvas())
}

func TestGoldenScreens(t *testing.T) {
	h := newHarness(t, protocol.RoleDesk)
	h.drain() // the hub's answer to "is setup open?"
	h.golden("login.xml")
	h.hub.terminals = []protocol.TerminalView{
		term("t1", "pc-01", true, protocol.SessionFree, false),
		term("t2", "pc-02", true, protocol.SessionInUse, false),
		term("t3", "pc-03", true, protocol.SessionInUse, true),
		term("t4", "pc-04", false, protocol.SessionFree, false),
	}
	h.login("ann")
	h.wait("four tiles", func() bool { return len(h.tiles()) == 4 })
	h.golden("room.xml")
	h.openDetail("pc-02")
	h.drain()
	h.golden("detail.xml")
}

func TestReconnectReloadsRoom(t *testing.T) {
	h := newHarness(t, protocol.RoleDesk)
	h.hub.terminals = []protocol.TerminalView{term("t1", "pc-01", true, protocol.SessionFree, false)}
	h.login("ann")
	h.wait("tile", func() bool { return h.tiles()["pc-01"] != nil })
	h.hub.setLink(false, errors.New("read: EOF"))
	h.wait("reconnecting", func() bool { return strings.HasPrefix(h.ui.linkLabel.Text, "Reconnecting") })
	// While the link was down pc-01 became dirty and pc-02 enrolled; no push
	// told us. The link coming back reloads the room.
	h.hub.mu.Lock()
	h.hub.terminals = []protocol.TerminalView{term("t1", "pc-01", true, protocol.SessionDirty, false), term("t2", "pc-02", true, protocol.SessionFree, false)}
	h.hub.mu.Unlock()
	h.hub.setLink(true, nil)
	h.wait("the reloaded room", func() bool {
		ts := h.tiles()
		return ts["pc-01"] != nil && ts["pc-01"].state.Text == protocol.StateDirty.String() && ts["pc-02"] != nil
	})
	if got := h.ui.linkLabel.Text; got != "Connected to the hub" {
		t.Fatalf("link label %q", got)
	}
}

// The room is virtualised: 2,000 terminals do not make 2,000 tiles.
func TestRoomIsVirtualised(t *testing.T) {
	h := newHarness(t, protocol.RoleDesk)
	for i := range 2000 {
		h.hub.terminals = append(h.hub.terminals, term(fmt.Sprintf("t%04d", i), fmt.Sprintf("pc-%04d", i), true, protocol.SessionFree, false))
	}
	h.login("ann")
	h.wait("2000 terminals", func() bool { return h.ui.Room().Len() == 2000 })
	h.win.Canvas().Capture()
	n := 0
	for _, o := range objects(h.win.Content()) {
		if _, ok := o.(*tile); ok {
			n++
		}
	}
	if n == 0 || n > 100 {
		t.Fatalf("%d tile objects for 2000 terminals: want only the visible ones", n)
	}
	if got := h.ui.room.total.Text; got != "2000 of 2000 terminals" {
		t.Fatalf("total %q", got)
	}
}

// "This computer is the hub": the console starts the hub, points the client at
// it, and, while the new hub waits for its first admin, opens setup with the
// hub's code filled in.
func TestEmbeddedHubOpensSetup(t *testing.T) {
	started := 0
	h := newHarnessOpts(t, protocol.RoleAdmin, Options{
		Embedded: func(context.Context) (string, string, error) {
			started++
			return "https://127.0.0.1:8443", "ff00", nil
		},
		SetupCode: func() string { return "K7Q2XW" },
	})
	test.Tap(h.button(h.win.Content(), "This computer is the hub"))
	h.wait("the setup screen", func() bool { return h.ui.setupView != nil })
	if got := h.ui.setupView.code.Text; got != "K7Q2XW" {
		t.Fatalf("setup code %q, want the embedded hub's", got)
	}
	h.hub.mu.Lock()
	hub := h.hub.hub
	h.hub.mu.Unlock()
	if hub != [2]string{"https://127.0.0.1:8443", "ff00"} || started != 1 {
		t.Fatalf("client pointed at %v after %d starts", hub, started)
	}
}

func TestConnectScreenRefusesBadInput(t *testing.T) {
	h := newHarnessOpts(t, protocol.RoleAdmin, Options{})
	test.Tap(h.button(h.win.Content(), "Connect"))
	if !strings.Contains(strings.Join(labelTexts(h.win.Content()), "\n"), "required") {
		t.Fatalf("no error for an empty hub address; texts %q", labelTexts(h.win.Content()))
	}
	if h.ui.loginView != nil {
		t.Fatal("the login screen opened without a hub")
	}
}

// Every display state the protocol lists has a tile colour and a header chip.
func TestStateColors(t *testing.T) {
	h := newHarness(t, protocol.RoleDesk)
	h.login("ann")
	h.wait("the room", func() bool { return h.ui.room != nil })
	for _, s := range protocol.DisplayStates {
		if _, ok := stateColors[s]; !ok {
			t.Errorf("no tile colour for %q", s)
		}
		if h.ui.room.counts[s] == nil {
			t.Errorf("no header chip for %q", s)
		}
	}
	if len(stateColors) != len(protocol.DisplayStates) {
		t.Errorf("%d colours for %d display states", len(stateColors), len(protocol.DisplayStates))
	}
}

// Agent text with a screen-clear escape, a window-title escape and a
// right-to-left override reaches no label raw: every screen that shows it
// (tile, detail, feed, alerts, quarantine, the release dialog, audit, a
// command's output, a notification) shows its escape instead.
func TestAgentTextIsEscaped(t *testing.T) {
	const (
		clear  = "\x1b[2J"
		rlo    = "PC-\u202eexe.txt"
		title  = "\x1b]0;pwned\x07invoice\u202eexe.txt"
		unsafe = "\x1b\x07\u202e"
	)
	h := newHarness(t, protocol.RoleAdmin)
	tv := term("t1", rlo, true, protocol.SessionInUse, false)
	tv.Status.Hostname = clear + "pc-12"
	tv.Status.AgentVersion = "0.1\x1b[31m"
	tv.Status.LastWipe = "dirty " + clear
	h.hub.terminals = []protocol.TerminalView{tv}
	blocked := protocol.DownloadBlocked{ID: "q-1", Name: title, SHA256: "00", Size: 5, Reason: "PE executable" + clear}
	h.hub.events = []protocol.EventView{{ID: 1, Terminal: "t1", Kind: protocol.EventDownloadBlocked, Severity: protocol.SeverityAlert,
		Time: clock, Data: blocked.Data()}}
	h.hub.quarantine = []protocol.QuarantineView{{Terminal: "t1", ID: "q-1", Name: title, SHA256: "00", Size: 5, Reason: "PE executable" + clear, Time: clock}}
	h.hub.audit = []protocol.AuditView{{ID: 1, Time: clock, Actor: "agent:" + rlo, Action: protocol.AuditEnroll, Terminal: "t1",
		Detail: "name=" + clear, Result: "ok" + clear}}
	h.hub.result = func(s sent) (protocol.Result, error) {
		return protocol.Result{ID: "c1", OK: true, Output: "locked " + clear, Time: clock}, nil
	}
	h.login("root")

	// check fails if a label in the window or its top dialog holds a raw
	// control or format character, and returns every label's text.
	check := func(where string) string {
		t.Helper()
		h.win.Canvas().Capture()
		roots := []fyne.CanvasObject{h.win.Content()}
		if top := h.win.Canvas().Overlays().Top(); top != nil {
			roots = append(roots, top)
		}
		var all []string
		for _, r := range roots {
			for _, s := range labelTexts(r) {
				if strings.ContainsAny(s, unsafe) {
					t.Errorf("%s: label holds raw agent text: %q", where, s)
				}
				all = append(all, s)
			}
		}
		return strings.Join(all, "\n")
	}
	shownRLO := protocol.Printable(rlo)
	if shownRLO != `PC-\u202eexe.txt` {
		t.Fatalf("Printable(%q) = %q", rlo, shownRLO)
	}
	h.wait("the tile", func() bool { return h.tiles()[shownRLO] != nil })
	check("room")
	h.openDetail(shownRLO)
	d := h.ui.room.detail
	h.wait("the blocked download in the detail", func() bool {
		return strings.Contains(strings.Join(labelTexts(d.events), "\n"), `\x1b]0;pwned\x07invoice\u202eexe.txt`)
	})
	if got := d.fields["Host name"].Text; got != `\x1b[2Jpc-12` {
		t.Errorf("host name shown as %q", got)
	}
	check("detail")
	test.Tap(h.button(d.content, "Lock"))
	h.wait("the lock's output", func() bool { return strings.Contains(d.result.Text, `locked \x1b[2J`) })
	check("detail after lock")

	for i, item := range h.ui.tabs.Items {
		h.ui.tabs.SelectIndex(i)
		h.drain()
		text := check("tab " + item.Text)
		if (item.Text == "Events" || item.Text == "Alerts") && !strings.Contains(text, `invoice\u202eexe.txt`) {
			t.Errorf("tab %s does not show the escaped file name; texts:\n%s", item.Text, text)
		}
	}
	qv := h.ui.admin.quarantine
	h.wait("the quarantine row", func() bool { return len(qv.rows) == 1 })
	qv.list.Select(0)
	h.ui.tabs.SelectIndex(slices.Index(h.ui.TabNames(), "Quarantine"))
	if got := qv.fields["File"].Text; got != protocol.Printable(title) {
		t.Errorf("quarantine file shown as %q", got)
	}
	test.Tap(h.button(qv.content, "Release to the patron…"))
	if text := check("release dialog"); !strings.Contains(text, `invoice\u202eexe.txt`) {
		t.Errorf("the release dialog does not name the file; texts:\n%s", text)
	}

	// A live alert's notification is escaped too.
	test.AssertNotificationSent(t, fyne.NewNotification("Carrel alert", shownRLO+": "+`exec.blocked`), func() {
		h.hub.send(protocol.StaffPush{Event: &protocol.EventView{ID: 2, Terminal: "t1", Kind: protocol.EventExecBlocked, Severity: protocol.SeverityAlert, Time: clock}})
		h.wait("the alert", func() bool { return len(h.ui.feed.alertRows) == 2 })
	})
}

// A hub with no staff account yet opens on first-run setup, not on "Log in";
// one with accounts stays on login. Both screens name the hub and its CA
// fingerprint.
func TestFirstRunOpensSetup(t *testing.T) {
	fp := strings.Repeat("ab12", 16)
	opts := Options{HubURL: "https://hub.branch.example:8443", Fingerprint: fp}
	grouped := strings.TrimSpace(strings.Repeat("ab12 ", 16))

	fresh := newFakeHub(protocol.RoleAdmin)
	fresh.setupOpen = true
	h := newHarnessHub(t, fresh, opts)
	h.wait("the setup screen", func() bool { return h.ui.setupView != nil })
	text := strings.Join(labelTexts(h.win.Content()), "\n")
	for _, want := range []string{"First-run setup", "https://hub.branch.example:8443", grouped} {
		if !strings.Contains(text, want) {
			t.Errorf("setup screen lacks %q; texts:\n%s", want, text)
		}
	}

	h = newHarnessHub(t, newFakeHub(protocol.RoleAdmin), opts)
	h.wait("the hub's answer", func() bool {
		h.hub.mu.Lock()
		defer h.hub.mu.Unlock()
		return h.hub.probes == 1 && h.ui.loginView.status.Text == ""
	})
	h.drain()
	if h.ui.setupView != nil {
		t.Fatal("a hub with accounts opened on setup")
	}
	text = strings.Join(labelTexts(h.win.Content()), "\n")
	for _, want := range []string{"https://hub.branch.example:8443", grouped} {
		if !strings.Contains(text, want) {
			t.Errorf("login screen lacks %q; texts:\n%s", want, text)
		}
	}
}

// The console checks the hub's signed audit head after login and after each
// reconnect: a head that goes back to a lower row, or names the same row with
// another hash, raises the red banner (and a notification) and stays raised.
func TestAuditHeadRewindRaisesBanner(t *testing.T) {
	ca, err := pki.LoadOrCreate(filepath.Join(t.TempDir(), "ca"))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(seq int64, b byte) string {
		h, err := ca.SignAuditHead(seq, bytes.Repeat([]byte{b}, 32), clock)
		if err != nil {
			t.Fatal(err)
		}
		return h.String()
	}
	keeper, err := auditwatch.Open(filepath.Join(t.TempDir(), auditwatch.FileName))
	if err != nil {
		t.Fatal(err)
	}
	hub := newFakeHub(protocol.RoleDesk)
	hub.ca = ca.Cert()
	hub.head = sign(40, 1)
	h := newHarnessHub(t, hub, Options{HubURL: "https://hub.test:8443", Fingerprint: strings.Repeat("ab", 32), AuditHeads: keeper})
	h.login("ann")
	h.wait("the head checked", func() bool { return h.ui.HeadChecks() > 0 })
	if kept, ok := keeper.Kept(pki.Fingerprint(ca.Cert())); !ok || kept.Seq != 40 {
		t.Fatalf("kept %+v (%v), want row 40", kept, ok)
	}
	h.drain()
	if h.ui.banner.content.Visible() || h.ui.AuditAlarm() != "" {
		t.Fatalf("banner raised for a first head: %q", h.ui.AuditAlarm())
	}

	// The hub moves on: still quiet.
	hub.setHead(sign(41, 2))
	h.hub.setLink(false, errors.New("read: EOF"))
	h.hub.setLink(true, nil)
	n := h.ui.HeadChecks()
	h.wait("the new head kept", func() bool {
		kept, _ := keeper.Kept(pki.Fingerprint(ca.Cert()))
		return h.ui.HeadChecks() > n && kept.Seq == 41
	})
	h.drain()
	if h.ui.banner.content.Visible() {
		t.Fatalf("banner raised for a head that moved on: %q", h.ui.AuditAlarm())
	}

	// Restored from an older copy: the head is at row 35.
	hub.setHead(sign(35, 3))
	h.hub.setLink(false, errors.New("read: EOF"))
	h.hub.setLink(true, nil)
	h.wait("the banner", func() bool { return h.ui.banner.content.Visible() })
	if got := h.ui.banner.text.Text; !strings.Contains(got, "went backwards") || !strings.Contains(got, "entry 35") || !strings.Contains(got, "41") {
		t.Fatalf("banner %q", got)
	}
	if kept, _ := keeper.Kept(pki.Fingerprint(ca.Cert())); kept.Seq != 41 {
		t.Fatalf("the keeper now holds row %d, want 41 kept", kept.Seq)
	}
	h.golden("auditalarm.xml")

	// Logging in again (same hub) shows the banner at once; a rewritten row is
	// an alarm too.
	before := h.ui.loginView
	test.Tap(h.button(h.win.Content(), "Log out"))
	h.wait("the login screen", func() bool { return h.ui.loginView != before })
	hub.setHead(sign(41, 9))
	n = h.ui.HeadChecks()
	h.login("ann")
	if !h.ui.banner.content.Visible() {
		t.Fatal("the banner is gone after logging in again")
	}
	h.wait("the head checked again", func() bool { return h.ui.HeadChecks() > n })
	if got := h.ui.AuditAlarm(); !strings.Contains(got, "rewritten") {
		t.Fatalf("alarm after a forked head %q", got)
	}
}

// Quarantine and Audit follow what happens without Refresh: a blocked
// download's push reloads the quarantine, any push fetches the audit rows
// after the newest shown; both read as sentences with the raw record beside.
func TestQuarantineAndAuditAreLive(t *testing.T) {
	h := newHarness(t, protocol.RoleAdmin)
	h.hub.terminals = []protocol.TerminalView{term("t1", "pc-12", true, protocol.SessionInUse, false), term("t7", "pc-07", true, protocol.SessionInUse, false)}
	h.hub.audit = []protocol.AuditView{{ID: 1, Time: clock, Actor: "staff:root", Action: protocol.AuditStaffLogin, Result: "ok"}}
	h.login("root")
	qv, av := h.ui.admin.quarantine, h.ui.admin.audit
	h.wait("the first audit row", func() bool { return len(av.rows) == 1 })
	h.drain()
	if len(qv.rows) != 0 {
		t.Fatalf("quarantine starts with %d rows", len(qv.rows))
	}

	// Two downloads are blocked on pc-12; the agent's events are pushed.
	for i, name := range []string{"invoice.exe", "setup.msi"} {
		b := protocol.DownloadBlocked{ID: fmt.Sprintf("q-%d", i), Name: name, SHA256: "00", Size: 9, Reason: "PE executable"}
		h.hub.mu.Lock()
		h.hub.quarantine = append(h.hub.quarantine, protocol.QuarantineView{Terminal: "t1", ID: b.ID, Name: name, SHA256: "00", Size: 9, Reason: b.Reason, Time: clock})
		h.hub.mu.Unlock()
		h.hub.send(protocol.StaffPush{Event: &protocol.EventView{ID: int64(10 + i), Terminal: "t1", Kind: protocol.EventDownloadBlocked,
			Severity: protocol.SeverityAlert, Time: clock, Data: b.Data()}})
	}
	h.wait("two quarantined files without Refresh", func() bool { return len(qv.rows) == 2 })

	// The feed reads as a sentence; the raw record is one selection away.
	fv := h.ui.feed
	h.wait("the feed", func() bool { return len(fv.feedRows) == 2 })
	if got := eventSentence(fv.feedRows[1], "pc-12"); got != "pc-12: blocked invoice.exe, a Windows program" {
		t.Errorf("sentence %q", got)
	}
	fv.feed.Select(1)
	if raw := fv.feedRaw.raw.Text; !strings.Contains(raw, "Kind: download.blocked") || !strings.Contains(raw, "id = q-0") || !strings.Contains(raw, "reason = PE executable") {
		t.Errorf("raw record:\n%s", raw)
	}
	test.Tap(h.button(fv.feedContent, "Show the PC"))
	if h.ui.room.selected != "t1" {
		t.Errorf("Show the PC opened %q", h.ui.room.selected)
	}
	// The filter finds by PC and by word.
	fv.filter.SetText("setup")
	if len(fv.feedRows) != 1 {
		t.Errorf("filter setup: %d rows", len(fv.feedRows))
	}
	fv.filter.SetText("")

	// Another member locks pc-07: the hub audits it and pushes the terminal.
	h.hub.mu.Lock()
	h.hub.audit = append(h.hub.audit, protocol.AuditView{ID: 2, Time: clock, Actor: "staff:ann", Action: protocol.AuditCommand, Terminal: "t7",
		Detail: `{"action":"lock","id":"c9"}`, Result: "ok"})
	h.hub.mu.Unlock()
	locked := term("t7", "pc-07", true, protocol.SessionInUse, true)
	h.hub.send(protocol.StaffPush{Terminal: &locked})
	h.wait("the new audit row without Refresh", func() bool { return len(av.rows) == 2 })
	if got := auditSentence(av.rows[0], "pc-07"); got != "ann locked pc-07" {
		t.Errorf("audit sentence %q", got)
	}
	if got := auditLine(av.rows[0], h.ui); !strings.HasSuffix(got, "ann locked pc-07") {
		t.Errorf("audit line %q", got)
	}
	av.list.Select(0)
	if raw := av.raw.Text; !strings.Contains(raw, "Actor: staff:ann") || !strings.Contains(raw, "action = lock") {
		t.Errorf("raw audit row:\n%s", raw)
	}
}

func TestSentences(t *testing.T) {
	ev := func(k protocol.EventKind, d map[string]string) protocol.EventView {
		return protocol.EventView{Kind: k, Data: d}
	}
	au := func(actor string, a protocol.AuditAction, detail, result string) protocol.AuditView {
		return protocol.AuditView{Actor: actor, Action: a, Detail: detail, Result: result}
	}
	for _, c := range []struct{ got, want string }{
		{eventSentence(ev(protocol.EventDownloadBlocked, protocol.DownloadBlocked{Name: "invoice.exe", Reason: "PE executable", ID: "q"}.Data()), "pc-12"), "pc-12: blocked invoice.exe, a Windows program"},
		{eventSentence(ev(protocol.EventDownloadBlocked, protocol.DownloadBlocked{Name: "run.ps1", Quarantine: "failed: disk full"}.Data()), "pc-12"), "pc-12: blocked run.ps1, a script that could run on the PC (it could not be quarantined: failed: disk full)"},
		{eventSentence(ev(protocol.EventExecBlocked, map[string]string{"path": `C:\Users\patron\Downloads\x.exe`}), "pc-3"), "pc-3: stopped a program from starting: x.exe"},
		{eventSentence(ev(protocol.EventWipeDirty, map[string]string{"why": "unlink: busy"}), "pc-3"), "pc-3: the wipe left files behind, so the PC stays closed (unlink: busy)"},
		{eventSentence(ev(protocol.EventSessionLocked, nil), ""), "Locked by staff"},
		{eventSentence(ev("x.new\x1b", nil), "pc"), `pc: x.new\x1b`},
		{auditSentence(au("staff:ann", protocol.AuditCommand, `{"action":"lock"}`, "ok"), "pc-07"), "ann locked pc-07"},
		{auditSentence(au("staff:ann", protocol.AuditCommand, `{"action":"end-session","arg.grace":"60"}`, "ok"), "pc-07"), "ann ended the session on pc-07"},
		{auditSentence(au("staff:ann", protocol.AuditCommandResult, `{"action":"lock","ok":"false","result":"seat busy"}`, "failed: seat busy"), "pc-07"), "pc-07 answered ann's lock: it failed (seat busy)"},
		{auditSentence(au("staff:bob", protocol.AuditStaffLogin, `{"result":"refused: wrong password"}`, "refused: wrong password"), ""), "bob tried to log in: refused (wrong password)"},
		{auditSentence(au("local:root", protocol.AuditErase, `{"events":"412","counts":"30","name":"pc-07"}`, "ok"), "pc-07"), "root on the hub's computer erased what the hub kept about pc-07 (412 events)"},
		{auditSentence(au("staff:root", protocol.AuditStaffCreate, `{"user":"bea","role":"desk"}`, "ok"), ""), "root made the staff account “bea” (desk)"},
		{auditSentence(au("enroll:10.0.0.9", protocol.AuditEnroll, `{"name":"pc-12"}`, "ok"), "pc-12"), "pc-12 enrolled"},
	} {
		if c.got != c.want {
			t.Errorf("got  %q\nwant %q", c.got, c.want)
		}
	}
}

// A live alert puts a badge with the count of unread alerts on its PC's tile;
// opening the PC's detail clears it. Info events leave no badge.
func TestUnreadAlertBadge(t *testing.T) {
	h := newHarness(t, protocol.RoleDesk)
	h.hub.terminals = []protocol.TerminalView{term("t1", "pc-01", true, protocol.SessionInUse, false), term("t2", "pc-02", true, protocol.SessionFree, false)}
	h.login("ann")
	h.wait("tiles", func() bool { return len(h.tiles()) == 2 })
	badge := func(name string) string {
		tl := h.tiles()[name]
		if tl == nil || !tl.badge.Visible() {
			return ""
		}
		return tl.badgeText.Text
	}
	h.hub.send(protocol.StaffPush{Event: &protocol.EventView{ID: 1, Terminal: "t2", Kind: protocol.EventSessionStarted, Severity: protocol.SeverityInfo, Time: clock}})
	blocked := protocol.DownloadBlocked{ID: "q", Name: "invoice.exe", Reason: "PE executable"}
	h.hub.send(protocol.StaffPush{Event: &protocol.EventView{ID: 2, Terminal: "t1", Kind: protocol.EventDownloadBlocked, Severity: protocol.SeverityAlert, Time: clock, Data: blocked.Data()}})
	h.wait("a badge on pc-01", func() bool { h.win.Canvas().Capture(); return badge("pc-01") == "1" })
	h.hub.send(protocol.StaffPush{Event: &protocol.EventView{ID: 3, Terminal: "t1", Kind: protocol.EventWipeDirty, Severity: protocol.SeverityAlert, Time: clock}})
	h.wait("two unread on pc-01", func() bool { h.win.Canvas().Capture(); return badge("pc-01") == "2" })
	if b := badge("pc-02"); b != "" {
		t.Fatalf("pc-02 has badge %q after an info event", b)
	}
	h.openDetail("pc-01")
	h.win.Canvas().Capture()
	if b := badge("pc-01"); b != "" {
		t.Fatalf("badge %q stays after opening the detail", b)
	}
	// An alert of the PC whose detail is open is seen at once: no badge.
	h.hub.send(protocol.StaffPush{Event: &protocol.EventView{ID: 4, Terminal: "t1", Kind: protocol.EventExecBlocked, Severity: protocol.SeverityAlert, Time: clock}})
	h.wait("the alert", func() bool { return len(h.ui.feed.alertRows) == 3 })
	h.win.Canvas().Capture()
	if b := badge("pc-01"); b != "" {
		t.Fatalf("badge %q for an alert on the open PC", b)
	}
}

// Actions that cannot apply are disabled, with the reason written under the
// buttons, instead of failing after the click.
func TestActionsThatCannotApplyAreDisabled(t *testing.T) {
	h := newHarness(t, protocol.RoleAdmin)
	h.hub.terminals = []protocol.TerminalView{
		term("t1", "pc-01", true, protocol.SessionFree, false),
		term("t2", "pc-02", true, protocol.SessionInUse, true),
		term("t3", "pc-03", false, protocol.SessionInUse, false),
	}
	h.login("root")
	h.wait("tiles", func() bool { return len(h.tiles()) == 3 })
	d := h.ui.room.detail
	enabled := func() (on []string) {
		for _, name := range []string{"Lock", "Unlock", "End session", "Wipe now", "Reboot", "Shut down", "Self-test", "Send message"} {
			if !h.button(d.content, name).Disabled() {
				on = append(on, name)
			}
		}
		return on
	}
	for _, c := range []struct {
		pc   string
		on   []string
		why  string
		sent bool // a tap on Unlock sends it
	}{
		{"pc-01", []string{"Lock", "Wipe now", "Reboot", "Shut down", "Self-test"}, "Not now: Unlock: pc-01 is not locked; Message, End session: nobody is using pc-01.", false},
		{"pc-02", []string{"Unlock", "End session", "Wipe now", "Reboot", "Shut down", "Self-test", "Send message"}, "Not now: Lock: pc-02 is already locked.", true},
		{"pc-03", nil, "Not now: Lock, Unlock, Message, End session, Wipe now, Reboot, Shut down, Self-test: pc-03 is offline.", false},
	} {
		h.openDetail(c.pc)
		if got := enabled(); !slices.Equal(got, c.on) {
			t.Errorf("%s: enabled %q, want %q", c.pc, got, c.on)
		}
		if d.why.Text != c.why {
			t.Errorf("%s: reason %q, want %q", c.pc, d.why.Text, c.why)
		}
		before := len(h.hub.sentCommands())
		test.Tap(h.button(d.content, "Unlock"))
		h.drain()
		if sent := len(h.hub.sentCommands()) > before; sent != c.sent {
			t.Errorf("%s: a tap on Unlock sent a command: %v, want %v", c.pc, sent, c.sent)
		}
	}
}

// The dialog that releases a quarantined file names the file and the PC in
// its title, text and button, and Cancel is its default: highlighted, focused,
// and what Return and Escape press.
func TestReleaseDialogDefaultsToCancel(t *testing.T) {
	h := newHarness(t, protocol.RoleAdmin)
	h.hub.terminals = []protocol.TerminalView{term("t1", "pc-12", true, protocol.SessionInUse, false)}
	h.hub.quarantine = []protocol.QuarantineView{{Terminal: "t1", ID: "q-1", Name: "invoice.exe", SHA256: "00", Size: 9, Reason: "PE executable", Time: clock}}
	h.login("root")
	qv := h.ui.admin.quarantine
	h.wait("the record and the room", func() bool { return len(qv.rows) == 1 && h.ui.Room().Len() == 1 })
	h.ui.tabs.SelectIndex(slices.Index(h.ui.TabNames(), "Quarantine"))
	qv.list.Select(0)
	for _, key := range []fyne.KeyName{fyne.KeyReturn, fyne.KeyEscape, fyne.KeySpace} {
		test.Tap(h.button(qv.content, "Release to the patron…"))
		top := h.win.Canvas().Overlays().Top()
		if top == nil {
			t.Fatal("no dialog")
		}
		h.win.Canvas().Capture()
		text := strings.Join(labelTexts(top), "\n")
		for _, want := range []string{"Release “invoice.exe” to pc-12?", "PE executable", "patron on pc-12"} {
			if !strings.Contains(text, want) {
				t.Errorf("dialog lacks %q; texts:\n%s", want, text)
			}
		}
		release := h.button(top, "Release invoice.exe to pc-12")
		if release.Importance != widget.DangerImportance {
			t.Errorf("the release button's importance is %v, want danger", release.Importance)
		}
		focused, ok := h.win.Canvas().Focused().(*defaultButton)
		if !ok || focused.Text != "Cancel" || focused.Importance != widget.HighImportance {
			t.Fatalf("focused %T %+v, want the highlighted Cancel button", h.win.Canvas().Focused(), h.win.Canvas().Focused())
		}
		focused.TypedKey(&fyne.KeyEvent{Name: key})
		h.drain()
		if h.win.Canvas().Overlays().Top() != nil {
			t.Fatalf("%s left the dialog open", key)
		}
		if n := len(h.hub.sentCommands()); n != 0 {
			t.Fatalf("%s sent %d commands, want none", key, n)
		}
	}
	test.Tap(h.button(qv.content, "Release to the patron…"))
	test.Tap(h.button(h.win.Canvas().Overlays().Top(), "Release invoice.exe to pc-12"))
	h.wait("the release", func() bool { return len(h.hub.sentCommands()) == 1 })
}

// The TOTP secret is shown once as a QR code and as one line of text that a
// button copies whole.
func TestTOTPSecretCopies(t *testing.T) {
	h := newHarness(t, protocol.RoleAdmin)
	h.hub.terminals = nil
	h.login("root")
	sv := h.ui.admin.staff
	test.Type(sv.user, "bea")
	test.Type(sv.password, "long enough password")
	test.Tap(sv.create)
	var top fyne.CanvasObject
	h.wait("the TOTP dialog", func() bool {
		top = h.win.Canvas().Overlays().Top()
		return top != nil && findButton(top, "Copy") != nil
	})
	var secret *widget.Label
	qr := false
	for _, o := range objects(top) {
		switch w := o.(type) {
		case *widget.Label:
			if w.Text == "KRSXG5CTMVRXEZLU" {
				secret = w
			}
		case *canvas.Image:
			qr = qr || (w.Resource != nil && w.Resource.Name() == "totp-qr.png")
		}
	}
	if !qr {
		t.Error("no QR code in the TOTP dialog")
	}
	if secret == nil || secret.Wrapping != fyne.TextWrapOff || !secret.Selectable {
		t.Fatalf("secret label %+v: want one selectable line", secret)
	}
	test.Tap(h.button(top, "Copy"))
	if got := h.app.Clipboard().Content(); got != "KRSXG5CTMVRXEZLU" {
		t.Fatalf("clipboard %q after Copy", got)
	}
}

// A dirty PC's detail says, for desk staff, why it is closed (the files the
// wipe left) and what to do.
func TestDirtyPCSaysWhy(t *testing.T) {
	h := newHarness(t, protocol.RoleDesk)
	h.hub.terminals = []protocol.TerminalView{term("t1", "pc-17", true, protocol.SessionDirty, false), term("t2", "pc-18", true, protocol.SessionFree, false)}
	h.hub.events = []protocol.EventView{{ID: 5, Terminal: "t1", Kind: protocol.EventWipeDirty, Severity: protocol.SeverityAlert, Time: clock,
		Data: map[string]string{"why": "2 files left", "leftovers": "2", "first": "/home/patron/Documents/cv.docx: busy"}}}
	h.login("ann")
	h.wait("tiles", func() bool { return len(h.tiles()) == 2 })
	h.openDetail("pc-17")
	d := h.ui.room.detail
	h.wait("the reason", func() bool { return strings.Contains(d.dirty.Text, "cv.docx") })
	for _, want := range []string{"left 2 file(s)", "/home/patron/Documents/cv.docx: busy", "pc-17 stays closed", "press Wipe now", "tell IT"} {
		if !strings.Contains(d.dirty.Text, want) {
			t.Errorf("dirty explanation lacks %q: %q", want, d.dirty.Text)
		}
	}
	if !d.dirty.Visible() {
		t.Fatal("the explanation is hidden")
	}
	h.openDetail("pc-18")
	if d.dirty.Visible() {
		t.Fatalf("a free PC shows the dirty explanation %q", d.dirty.Text)
	}
}
