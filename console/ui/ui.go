// Package ui is the staff console's Fyne interface: the choice of hub, first-run
// setup, login, the room of terminal tiles, a terminal's detail and actions, the
// event feed and alerts, and the admin screens (quarantine, enrollment, staff
// accounts, audit log, the API's keys and webhooks), the patron session's
// screens (time left on tiles, a PC's session and rules with add or remove
// time, guest passes, the ILS light, branch rules and hours for admins:
// patron.go, guests.go, rules.go, through the optional PatronHub half of the
// client), and the red banner raised when the hub's signed audit head goes
// backwards or forks (internal/auditwatch). One file per screen.
//
// Views talk to the hub only through HubClient. Hub pushes and the answers of
// background requests reach widgets only through the Bridge (bridge.go), the one
// place that calls fyne.Do; the view models (RoomModel, EventLog) are touched
// only on the UI goroutine.
//
// Everything an agent or IT reported (host names, file names, event data,
// errors) is shown as plain text: widget.Label, canvas.Text or a read-only
// Entry, never Markdown, RichText parsing or hyperlinks; and it passes through
// shown (protocol.Printable) on its way, so a control or format character (an
// escape sequence, a right-to-left override) is seen as its escape, never
// obeyed.
//
// Limitations (2026-12): there is no policy editor (apply-policy is not
// offered).
package ui

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/auditwatch"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// HubClient is what the console needs from the hub. console/hubclient.Client
// implements it; this package's tests use an in-memory one (fake_test.go).
//
// Methods may block on the network and are never called on the UI goroutine.
// Subscribe's callbacks run on the client's own goroutine, in order, and must
// return quickly: the bridge only queues what they carry.
type HubClient interface {
	// SetHub chooses the hub: its https URL and its CA fingerprint (pinned).
	SetHub(url, fingerprint string) error
	// SetupOpen reports whether the hub has no staff account yet (first-run
	// setup is open).
	SetupOpen(ctx context.Context) (bool, error)
	Setup(ctx context.Context, req protocol.SetupRequest) (protocol.SetupResponse, error)
	Login(ctx context.Context, req protocol.LoginRequest) (protocol.LoginResponse, error)
	Logout(ctx context.Context) error
	// Subscribe delivers pushes and link changes (up false with the reason;
	// see IsSessionEnded) until cancel is called.
	Subscribe(push func(protocol.StaffPush), link func(up bool, err error)) (cancel func())
	Terminals(ctx context.Context) ([]protocol.TerminalView, error)
	Events(ctx context.Context, args protocol.EventsArgs) ([]protocol.EventView, error)
	// Command waits for the agent's Result; an agent's refusal is a Result with
	// OK false, not an error.
	Command(ctx context.Context, terminal string, action protocol.Action, args map[string]string) (protocol.Result, error)
	TokenCreate(ctx context.Context, args protocol.TokenArgs) (protocol.TokenView, error)
	Revoke(ctx context.Context, terminal string) error
	QuarantineList(ctx context.Context) ([]protocol.QuarantineView, error)
	StaffList(ctx context.Context) ([]protocol.StaffView, error)
	StaffCreate(ctx context.Context, args protocol.StaffCreateArgs) (protocol.SetupResponse, error)
	StaffDisable(ctx context.Context, user string) error
	AuditList(ctx context.Context, args protocol.AuditArgs) ([]protocol.AuditView, error)
	AuditVerify(ctx context.Context) (protocol.AuditVerifyView, error)
	HubInfo(ctx context.Context) (protocol.HubInfo, error)
	// Report adds up the hub's usage counts over a range (any role).
	Report(ctx context.Context, args protocol.ReportArgs) (protocol.Report, error)
	// The API's keys and webhooks (admin): lists never carry a secret; a
	// new key's secret is in APIKeyCreate's answer this once.
	APIKeys(ctx context.Context) ([]protocol.APIKeyView, error)
	APIKeyCreate(ctx context.Context, args protocol.APIKeyArgs) (protocol.APIKeyCreated, error)
	APIKeyRevoke(ctx context.Context, id string) (protocol.APIKeyView, error)
	Webhooks(ctx context.Context) ([]protocol.WebhookView, error)
	WebhookCreate(ctx context.Context, args protocol.WebhookArgs) (protocol.WebhookView, error)
	WebhookDelete(ctx context.Context, id string) error
	// CA is the hub's CA certificate as the hub presented it (its fingerprint
	// is the one pinned), nil before the first connection; audit heads are
	// checked against it.
	CA() *x509.Certificate
}

// EmbeddedHub starts a hub on this computer and returns its URL and CA
// fingerprint; the hub runs until ctx ends.
type EmbeddedHub func(ctx context.Context) (url, fingerprint string, err error)

// Options configure the console; zero values take defaults.
type Options struct {
	Log *slog.Logger
	// HubURL and Fingerprint, when both set, skip the choice of hub.
	HubURL, Fingerprint string
	// Embedded, if set, offers "this computer is the hub".
	Embedded EmbeddedHub
	// StartEmbedded starts the embedded hub at once instead of asking.
	StartEmbedded bool
	// SetupCode, if set, returns the embedded hub's waiting first-run setup
	// code; the setup screen is then filled in (and shown first) for it.
	SetupCode func() string
	// Now is the clock for "time in state" (tests fix it).
	Now func() time.Time
	// Do runs a function on the UI goroutine; default fyne.Do. Tests replace it
	// with a queue they drain themselves.
	Do func(func())
	// Tick is how often times in state are refreshed; default 15 s, negative: never.
	Tick time.Duration
	// AuditHeads, if set, keeps the highest audit head of each hub and checks
	// every new one (after login and each reconnect); an alarm raises a red
	// banner.
	AuditHeads *auditwatch.Keeper
	// OnState, if set, is told the name of each screen shown, of the terminal
	// whose detail opens and the room's size when it loads ("login", "room",
	// "terminals:N", "detail:ID", ...), for the real-window test.
	OnState func(string)
}

// UI is a running console.
type UI struct {
	app    fyne.App
	win    fyne.Window
	client HubClient
	opts   Options
	log    *slog.Logger
	bridge *Bridge
	ctx    context.Context
	cancel context.CancelFunc

	// Only touched on the UI goroutine.
	hub           hubIdentity // the hub chosen, as staff see it named
	auditAlarm    string      // the audit alarm raised for this hub, if any
	headChecks    int         // audit heads checked, for tests
	banner        *auditBanner
	login         protocol.LoginResponse
	loginView     *loginView
	setupView     *setupView
	linkLabel     *widget.Label
	connectStatus *widget.Label
	embedded      bool // the hub in use runs inside this console
	room          *roomView
	admin         adminViews
	feed          *eventsView
	reports       *reportsView
	patrons       *patronsView // the Patrons tab (guests.go), nil without a PatronHub
	tabs          *container.AppTabs
}

// adminViews are the admin screens, present for admins only.
type adminViews struct {
	quarantine *quarantineView
	enroll     *enrollView
	staff      *staffView
	audit      *auditView
	api        *apiView
}

// Create builds the console in w and shows its first screen: the choice of hub,
// or the login screen when Options name the hub.
func Create(a fyne.App, w fyne.Window, client HubClient, opts Options) *UI {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Tick == 0 {
		opts.Tick = 15 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	u := &UI{app: a, win: w, client: client, opts: opts, log: opts.Log, ctx: ctx, cancel: cancel}
	u.bridge = newBridge(u, opts.Do)
	w.SetTitle("Carrel")
	w.Resize(fyne.NewSize(1200, 760))
	w.SetOnClosed(u.Close)
	if opts.StartEmbedded && opts.Embedded != nil {
		u.showConnect(nil)
		u.startEmbedded(nil)
		return u
	}
	if opts.HubURL != "" && opts.Fingerprint != "" {
		if err := u.setHub(opts.HubURL, opts.Fingerprint); err != nil {
			u.showConnect(err)
			return u
		}
		u.openHub()
		return u
	}
	u.showConnect(nil)
	return u
}

// Close stops background work (subscriptions, tickers, an embedded hub).
func (u *UI) Close() {
	u.cancel()
	u.bridge.stop()
}

// Bridge returns the console's bridge (tests wait on it).
func (u *UI) Bridge() *Bridge { return u.bridge }

// Room returns the room's view model. Only use it on the UI goroutine.
func (u *UI) Room() *RoomModel { return u.room.model }

func (u *UI) state(s string) {
	if u.opts.OnState != nil {
		u.opts.OnState(s)
	}
}

// show replaces the window's content.
func (u *UI) show(name string, c fyne.CanvasObject) {
	u.win.SetContent(c)
	u.state(name)
}

// async runs f off the UI goroutine with a request deadline, then done on the UI
// goroutine (through the bridge).
func (u *UI) async(f func(ctx context.Context) func()) {
	go func() {
		ctx, cancel := context.WithTimeout(u.ctx, 3*time.Minute)
		defer cancel()
		done := f(ctx)
		if done != nil {
			u.bridge.Do(done)
		}
	}()
}

// errText is an error as one line of plain text for a label.
func errText(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "The hub did not answer in time."
	}
	return shown(err.Error())
}

// shown is text that came from outside (an agent, the hub, IT) as a label
// shows it: every control and format character written as a visible escape
// (protocol.Printable), a backslash doubled; ordinary text of any script
// unchanged.
func shown(s string) string { return protocol.Printable(s) }

// quoted is a file name as shown, in quotation marks.
func quoted(s string) string { return "“" + shown(s) + "”" }

// terminalLabel is a terminal's name as shown, or its ID when it has none.
func terminalLabel(t protocol.TerminalView) string {
	if t.Name == "" {
		return shown(t.ID)
	}
	return shown(t.Name)
}

// plain is a label for text that came from outside: never parsed, wrapped.
// The caller passes the text through shown first (once: a second pass would
// double its backslashes).
func plain(s string) *widget.Label {
	l := widget.NewLabel(s)
	l.Wrapping = fyne.TextWrapWord
	return l
}

// listLine is one line of a list: plain text cut with an ellipsis at the
// list's width (the whole text stays in the label). Its type is a list's
// CreateItem.
func listLine() fyne.CanvasObject {
	l := widget.NewLabel("")
	l.Truncation = fyne.TextTruncateEllipsis
	return l
}

// selectable is read-only text staff can select and copy (tokens, commands,
// secrets), plain like every label.
func selectable(s string) *widget.Label {
	l := widget.NewLabel(s)
	l.Wrapping = fyne.TextWrapBreak
	l.Selectable = true
	return l
}
