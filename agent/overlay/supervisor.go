package overlay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

var (
	// ErrNotImplemented is returned where this OS has no helper yet.
	ErrNotImplemented = fmt.Errorf("overlay: not implemented on this OS: %w", errors.ErrUnsupported)
	// ErrNotRunning is returned by the Supervisor's show calls outside Run: the
	// state is kept and shown when Run starts.
	ErrNotRunning = errors.New("overlay: supervisor not running")
)

// EventSink records events for the hub (agent/session's EventSink).
type EventSink interface {
	Emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) error
}

// Target is the graphical session a helper runs in.
type Target struct {
	// Session is the OS session id; it names the session in events and logs.
	// On Windows it is the WTS session number, whose user token the helper
	// runs with.
	Session string
	// UID and GID are the patron's: the helper runs with them and no
	// supplementary groups. Unused on Windows.
	UID, GID uint32
	// Display is the session's local X display (":0"). Unused on Windows.
	Display string
	// XAuthority is the session's X authority file, or "" (see
	// FindXAuthority). Unused on Windows.
	XAuthority string
}

var (
	sessionRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)
	displayRe = regexp.MustCompile(`^:[0-9]{1,5}(\.[0-9]{1,3})?$`)
)

func (t Target) check() error {
	if !sessionRe.MatchString(t.Session) {
		return fmt.Errorf("overlay: bad session id %q", protocol.Clip(t.Session, 64))
	}
	return t.checkSeat() // per OS
}

// checkX checks the X display and authority file of a session.
func (t Target) checkX() error {
	switch {
	case !displayRe.MatchString(t.Display):
		// Only local displays: a helper must never dial out over TCP.
		return fmt.Errorf("overlay: session %s: display %q is not a local X display", t.Session, protocol.Clip(t.Display, 64))
	case t.XAuthority != "" && !validAuthPath(t.XAuthority):
		return fmt.Errorf("overlay: session %s: bad XAUTHORITY path", t.Session)
	}
	return nil
}

func validAuthPath(p string) bool {
	if len(p) > 1024 || !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return false
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// Starter makes the (not yet started) command that runs one helper in t's
// session. The Supervisor sets its Stdin, Stdout and Stderr and starts it
// (startHelper: on Windows, a command that carries a user token is started on
// that session's interactive desktop).
type Starter func(t Target) (*exec.Cmd, error)

// helperProcess is a started helper.
type helperProcess interface {
	Pid() int
	Kill() error
	// Wait waits for the process to end and its stderr to be copied; a
	// non-zero exit is an error that says "exit status N" (or the signal).
	Wait() error
}

// cmdProcess is a helper started by os/exec.
type cmdProcess struct{ *exec.Cmd }

func (c cmdProcess) Pid() int    { return c.Process.Pid }
func (c cmdProcess) Kill() error { return c.Process.Kill() }

// Options configure a Supervisor. Log is required.
type Options struct {
	Log *slog.Logger
	// Start makes the helper's command. Default: this executable with the
	// argument "session-helper", as the target's uid (HelperCommand).
	Start Starter
	// ReadyTimeout bounds how long a show call waits for the helper to put the
	// new state on screen. Default: 10s.
	ReadyTimeout time.Duration
	// Stale: a helper that has reported nothing for this long (stopped, or
	// stuck on its X connection) is killed and started again. Default: 2s.
	Stale time.Duration
}

// Supervisor runs one helper per graphical session that has something to show,
// keeps it fed with the state, and starts it again when it dies while the state
// still asks for something. Its methods are safe for concurrent use. The show
// calls (Lock, Countdown, Message) record the state at once; helpers run only
// while Run runs.
type Supervisor struct {
	log   *slog.Logger
	start Starter
	ready time.Duration
	stale time.Duration

	wg sync.WaitGroup // every goroutine of every helper

	mu      sync.Mutex // guards everything below
	running bool
	ctx     context.Context // Run's, while running
	sink    EventSink
	seats   map[string]*seat
	nextMsg uint64
	// noticeFor is how long a notice stays (NoticeShowFor; tests shorten it).
	noticeFor time.Duration

	inputs chan Input // what patrons did on their screens; full: dropped
}

// Input is something a patron did on the patron screen: submitted the
// sign-in form (Report.T ReportSignIn, with Card, PIN or Guest, which the
// receiver must Wipe once used), acknowledged a warning, or confirmed "End my
// session".
type Input struct {
	Session string
	Report  Report
}

// inputQueue bounds the patron inputs waiting for the service.
const inputQueue = 8

// seat is one session's wanted state and its helper.
type seat struct {
	id        string // the session id; never changes
	target    Target
	want      Command
	proc      *proc         // the live helper, or nil
	shown     uint64        // the Seq the live helper last reported on screen
	last      Report        // the live helper's last ready or alive report
	changed   chan struct{} // closed and replaced when shown or proc change
	lastExit  string        // how the last helper ended, for errors
	fast      int           // helpers in a row that died within fastDeath
	events    []time.Time   // restart events in the last minute
	dropped   int           // restart events not sent because of the rate limit
	endTimer  *time.Timer   // clears a countdown that has run out
	noteTimer *time.Timer   // clears a notice after noticeFor
	restarts  int           // total restarts, for tests and logs
}

// proc is one helper process.
type proc struct {
	hp       helperProcess
	stdin    *os.File
	started  time.Time
	seen     atomic.Int64 // UnixNano of its last report
	stop     atomic.Bool  // ended on purpose: do not restart
	wasReady atomic.Bool  // it reported ready at least once
	reason   atomic.Value // string: why the supervisor killed it
	stderr   *tailBuffer

	mu     sync.Mutex // guards latest
	latest Command
	kick   chan struct{} // cap 1: latest changed
	done   chan struct{} // closed once the process was waited for
}

const (
	fastDeath   = 2 * time.Second
	stopGrace   = 2 * time.Second
	writeWait   = 2 * time.Second
	eventsLimit = 10 // restart events per session per minute
)

// NewSupervisor returns a Supervisor; call Run to let it start helpers.
func NewSupervisor(o Options) *Supervisor {
	if o.Start == nil {
		o.Start = HelperCommand("", HelperArg)
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 10 * time.Second
	}
	if o.Stale <= 0 {
		o.Stale = 2 * time.Second
	}
	return &Supervisor{log: o.Log, start: o.Start, ready: o.ReadyTimeout, stale: o.Stale, seats: make(map[string]*seat), noticeFor: NoticeShowFor,
		inputs: make(chan Input, inputQueue)}
}

// Inputs delivers what patrons do on the patron screen (Patron). One channel,
// for every session; an input that finds it full is dropped (and its secret
// zeroed).
func (s *Supervisor) Inputs() <-chan Input { return s.inputs }

// Patron shows the patron's screen in t's session: the sign-in form (lock
// true, p.SignIn) or the signed-in session's strip (lock false, p.EndsAt),
// and waits until the helper has it on screen.
func (s *Supervisor) Patron(ctx context.Context, t Target, lock bool, p PatronScreen) error {
	if err := p.check(time.Now()); err != nil {
		return fmt.Errorf("overlay: patron screen: %w", err)
	}
	if p.SignIn && !lock {
		return errors.New("overlay: the sign-in form needs the lock")
	}
	return s.show(ctx, t, func(c *Command) { c.Lock, c.Patron = lock, p })
}

// Run lets the supervisor start helpers until ctx ends, then stops them all and
// waits for them. Events (protocol.EventHelperRestarted) go to sink. It returns nil when
// ctx ends; Run may be called again after it returned.
func (s *Supervisor) Run(ctx context.Context, sink EventSink) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("overlay: supervisor already running")
	}
	s.running, s.ctx, s.sink = true, ctx, sink
	for _, st := range s.seats {
		if !st.want.Empty() && st.proc == nil {
			if err := s.startLocked(st); err != nil {
				s.log.Error("Session helper not started", "session", st.id, "error", err)
			}
		}
	}
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	s.running = false
	for _, st := range s.seats {
		s.stopLocked(st)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Lock shows (on) or removes (off) the lock screen in t's session, and waits
// until the helper reports it on screen.
func (s *Supervisor) Lock(ctx context.Context, t Target, on bool) error {
	return s.show(ctx, t, func(c *Command) { c.Lock = on })
}

// Countdown shows "This session ends in N s" in t's session until deadline
// (a zero deadline removes it). The countdown is removed by itself shortly
// after the deadline.
func (s *Supervisor) Countdown(ctx context.Context, t Target, deadline time.Time) error {
	if !deadline.IsZero() && time.Until(deadline) > MaxGrace {
		return fmt.Errorf("overlay: countdown longer than %s", MaxGrace)
	}
	return s.show(ctx, t, func(c *Command) {
		c.EndsAt = 0
		if !deadline.IsZero() {
			c.EndsAt = max(deadline.UnixMilli(), 1)
		}
	})
}

// Message shows a staff message in t's session until the patron dismisses it
// or another message replaces it. text must pass CheckText.
func (s *Supervisor) Message(ctx context.Context, t Target, text string) error {
	if err := CheckText(text); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	if text == "" {
		return errors.New("overlay: empty message")
	}
	return s.show(ctx, t, func(c *Command) {
		s.nextMsg++ // s.mu is held
		c.MsgID, c.Msg = s.nextMsg, text
	})
}

// Notice shows a note from the agent in a corner of t's session for
// NoticeShowFor, or until the patron closes it or the next notice replaces
// it. It never covers the screen and never takes the keyboard or the focus.
// text must pass CheckText.
func (s *Supervisor) Notice(ctx context.Context, t Target, text string) error {
	if err := CheckText(text); err != nil {
		return fmt.Errorf("overlay: notice: %w", err)
	}
	if text == "" {
		return errors.New("overlay: empty notice")
	}
	var id uint64
	err := s.show(ctx, t, func(c *Command) {
		s.nextMsg++ // s.mu is held; one counter for messages and notices
		id = s.nextMsg
		c.NoticeID, c.Notice = id, text
		s.armNoticeTimer(t.Session, id)
	})
	return err
}

// armNoticeTimer clears notice id of the session after noticeFor; s.mu must
// be held.
func (s *Supervisor) armNoticeTimer(session string, id uint64) {
	st := s.seats[session]
	if st == nil {
		return
	}
	if st.noteTimer != nil {
		st.noteTimer.Stop()
	}
	st.noteTimer = time.AfterFunc(s.noticeFor, func() { s.clearNotice(session, id) })
}

// clearNotice removes notice id from the session, if it still shows it.
func (s *Supervisor) clearNotice(session string, id uint64) {
	s.mu.Lock()
	st := s.seats[session]
	if st == nil || st.want.NoticeID != id {
		s.mu.Unlock()
		return
	}
	t := st.target
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.ready)
	defer cancel()
	err := s.show(ctx, t, func(c *Command) {
		if c.NoticeID == id {
			c.NoticeID, c.Notice = 0, ""
		}
	})
	if err != nil && !errors.Is(err, ErrNotRunning) {
		s.log.Warn("Remove notice", "session", session, "error", err)
	}
}

// End forgets a session that ended: its helper is stopped and never restarted.
func (s *Supervisor) End(session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.seats[session]
	if st == nil {
		return
	}
	s.stopLocked(st)
	if st.endTimer != nil {
		st.endTimer.Stop()
	}
	if st.noteTimer != nil {
		st.noteTimer.Stop()
	}
	delete(s.seats, session)
}

// Shown returns the last ready or alive report of the session's live helper;
// ok is false when no helper runs there.
func (s *Supervisor) Shown(session string) (r Report, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.seats[session]
	if st == nil || st.proc == nil {
		return Report{}, false
	}
	return st.last, true
}

// Restarts returns how many times the session's helper was started again.
func (s *Supervisor) Restarts(session string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.seats[session]; st != nil {
		return st.restarts
	}
	return 0
}

// show changes the session's wanted state and waits until a helper has it on
// screen (or, for an empty state, until the helper was asked to go).
func (s *Supervisor) show(ctx context.Context, t Target, change func(*Command)) error {
	if err := t.check(); err != nil {
		return err
	}
	s.mu.Lock()
	st := s.seats[t.Session]
	if st == nil {
		st = &seat{id: t.Session, changed: make(chan struct{})}
		s.seats[t.Session] = st
	}
	st.target = t
	before := st.want
	change(&st.want)
	if !st.want.same(before) {
		st.want.Seq = before.Seq + 1
	}
	s.armEndTimer(st)
	if !s.running {
		s.mu.Unlock()
		return ErrNotRunning
	}
	if st.want.Empty() {
		s.stopLocked(st)
		s.mu.Unlock()
		return nil
	}
	if st.proc == nil {
		if err := s.startLocked(st); err != nil {
			s.mu.Unlock()
			return err
		}
	} else {
		st.proc.send(st.want)
	}
	seq := st.want.Seq
	s.mu.Unlock()
	return s.waitShown(ctx, st, seq)
}

// waitShown waits until the session's helper reports seq (or a later state) on
// screen.
func (s *Supervisor) waitShown(ctx context.Context, st *seat, seq uint64) error {
	timer := time.NewTimer(s.ready)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if st.proc != nil && st.shown >= seq {
			s.mu.Unlock()
			return nil
		}
		if st.want.Seq != seq && st.want.Empty() || s.seats[st.id] != st {
			s.mu.Unlock()
			return nil // superseded: nothing to show any more, or the session ended
		}
		ch, id, exit := st.changed, st.id, st.lastExit
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("overlay: session %s: helper not on screen yet: %w", id, ctx.Err())
		case <-timer.C:
			if exit != "" {
				return fmt.Errorf("overlay: session %s: helper not on screen after %s (last helper: %s)", id, s.ready, exit)
			}
			return fmt.Errorf("overlay: session %s: helper not on screen after %s", id, s.ready)
		}
	}
}

// armEndTimer clears a countdown shortly after its end, so that a session that
// was not ended after all does not show "0 s" for ever; s.mu must be held.
func (s *Supervisor) armEndTimer(st *seat) {
	if st.endTimer != nil {
		st.endTimer.Stop()
		st.endTimer = nil
	}
	if st.want.EndsAt == 0 {
		return
	}
	ends, id := st.want.EndsAt, st.id
	st.endTimer = time.AfterFunc(time.Until(time.UnixMilli(ends))+3*time.Second, func() {
		s.mu.Lock()
		cur := s.seats[id]
		if cur != st || st.want.EndsAt != ends {
			s.mu.Unlock()
			return
		}
		t := st.target
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), s.ready)
		defer cancel()
		err := s.show(ctx, t, func(c *Command) {
			if c.EndsAt == ends {
				c.EndsAt = 0
			}
		})
		if err != nil && !errors.Is(err, ErrNotRunning) {
			s.log.Warn("Remove run-out countdown", "session", id, "error", err)
		}
	})
}

// notifyLocked wakes waiters of st; s.mu must be held.
func notifyLocked(st *seat) {
	close(st.changed)
	st.changed = make(chan struct{})
}

// startLocked starts a helper for st with its wanted state; s.mu must be held
// and s.running true.
func (s *Supervisor) startLocked(st *seat) error {
	t := st.target
	inR, inW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("overlay: pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return fmt.Errorf("overlay: pipe: %w", err)
	}
	// Nothing fails between the Starter and startHelper: on Windows the
	// command holds a token that startHelper closes.
	cmd, err := s.start(t)
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		st.lastExit = "not started: " + err.Error()
		return fmt.Errorf("overlay: session %s: helper: %w", t.Session, err)
	}
	p := &proc{stdin: inW, stderr: &tailBuffer{max: 2048}, kick: make(chan struct{}, 1), done: make(chan struct{})}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, p.stderr
	cmd.WaitDelay = stopGrace
	p.hp, err = startHelper(cmd)
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		st.lastExit = "not started: " + err.Error()
		return fmt.Errorf("overlay: session %s: start helper: %w", t.Session, err)
	}
	p.started = time.Now()
	p.seen.Store(p.started.UnixNano())
	p.latest = st.want
	p.kick <- struct{}{}
	st.proc, st.shown, st.last = p, 0, Report{}
	notifyLocked(st)
	s.log.Debug("Session helper started", "session", t.Session, "pid", p.hp.Pid())

	s.wg.Add(4)
	go func() {
		defer s.wg.Done()
		s.readReports(st, p, outR)
	}()
	go func() {
		defer s.wg.Done()
		s.feed(p)
	}()
	go func() {
		defer s.wg.Done()
		s.watch(p)
	}()
	go func() {
		defer s.wg.Done()
		err := p.hp.Wait()
		close(p.done)
		s.exited(st, p, err)
	}()
	return nil
}

// stopLocked asks st's helper to go (its stdin closes) and kills it if it has
// not gone after stopGrace; s.mu must be held.
func (s *Supervisor) stopLocked(st *seat) {
	p := st.proc
	if p == nil {
		return
	}
	st.proc = nil
	notifyLocked(st)
	p.stop.Store(true)
	p.stdin.Close() // the feeder's next write fails and it returns
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			p.reason.Store("did not exit when asked")
			_ = p.hp.Kill()
		}
	}()
}

// send hands c to the feeder.
func (p *proc) send(c Command) {
	p.mu.Lock()
	p.latest = c
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// feed writes the latest state to the helper's stdin when it changes. It
// returns when the helper has exited.
func (s *Supervisor) feed(p *proc) {
	defer p.stdin.Close()
	for {
		select {
		case <-p.done:
			return
		case <-p.kick:
			if p.stop.Load() {
				continue
			}
			p.mu.Lock()
			line := encodeLine(p.latest)
			p.mu.Unlock()
			// Where pipes have no deadlines (Windows), a write to a helper that
			// stopped reading blocks until watch kills it.
			_ = p.stdin.SetWriteDeadline(time.Now().Add(writeWait))
			if _, err := p.stdin.Write(line); err != nil && !p.stop.Load() {
				p.reason.Store("stopped reading: " + err.Error())
				_ = p.hp.Kill()
			}
		}
	}
}

// watch kills a helper that stopped reporting (the watchdog). It returns when
// the helper has exited.
func (s *Supervisor) watch(p *proc) {
	tick := time.NewTicker(s.stale / 4)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
			if !p.stop.Load() && time.Since(time.Unix(0, p.seen.Load())) > s.stale {
				p.reason.Store("stopped answering")
				_ = p.hp.Kill()
			}
		}
	}
}

// readReports reads the helper's reports until its stdout closes.
func (s *Supervisor) readReports(st *seat, p *proc, r io.ReadCloser) {
	defer r.Close()
	lr := NewLineReader(r)
	bad := 0
	for {
		line, err := lr.Next()
		if errors.Is(err, ErrLineTooLong) {
			bad++
			continue
		}
		if err != nil {
			return
		}
		rep, err := DecodeReport(line)
		clear(line) // a sign-in's PIN was in it
		if err != nil {
			if bad++; bad == 1 {
				s.log.Warn("Session helper sent a bad report", "session", st.id, "error", err)
			}
			continue
		}
		p.seen.Store(time.Now().UnixNano())
		s.report(st, p, rep)
	}
}

func (s *Supervisor) report(st *seat, p *proc, r Report) {
	s.mu.Lock()
	if st.proc != p {
		s.mu.Unlock()
		return
	}
	switch r.T {
	case ReportReady, ReportAlive:
		if r.T == ReportReady {
			p.wasReady.Store(true)
		}
		st.last = r
		if r.Seq > st.shown && r.Seq <= st.want.Seq {
			st.shown = r.Seq
			notifyLocked(st)
		}
		s.mu.Unlock()
	case ReportDismissed:
		if r.MsgID == 0 || r.MsgID != st.want.MsgID {
			s.mu.Unlock()
			return
		}
		t := st.target
		s.mu.Unlock()
		s.log.Info("Staff message dismissed", "session", t.Session)
		// Not waited for: this runs on the report reader.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = s.show(context.Background(), t, func(c *Command) {
				if c.MsgID == r.MsgID {
					c.MsgID, c.Msg = 0, ""
				}
			})
		}()
	case ReportSignIn, ReportWarnAck, ReportEndSession:
		patron := st.want.Patron
		s.mu.Unlock()
		ok := r.T == ReportSignIn && patron.SignIn && !patron.Busy ||
			r.T == ReportWarnAck && r.WarnID != 0 && r.WarnID == patron.WarnID ||
			r.T == ReportEndSession && patron.EndsAt != 0
		if !ok {
			r.Wipe()
			return
		}
		select {
		case s.inputs <- Input{Session: st.id, Report: r}:
		default:
			r.Wipe()
			s.log.Warn("Patron input dropped: the service is busy", "session", st.id, "kind", r.T)
		}
	case ReportNoticeClosed:
		if r.NoticeID == 0 || r.NoticeID != st.want.NoticeID {
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.clearNotice(st.id, r.NoticeID)
		}()
	default:
		s.mu.Unlock()
	}
}

// exited handles a helper's end: if its session still wants something shown,
// a new helper starts at once (after a short pause when helpers keep dying
// right after their start), and the restart is reported.
func (s *Supervisor) exited(st *seat, p *proc, err error) {
	exit := describeExit(p, err)
	s.mu.Lock()
	if st.proc == p {
		st.proc = nil
		notifyLocked(st)
	}
	st.lastExit = exit
	id := st.id
	if p.stop.Load() || !s.running || s.seats[id] != st || st.want.Empty() || st.proc != nil {
		s.mu.Unlock()
		s.log.Debug("Session helper ended", "session", id, "exit", exit)
		return
	}
	// A helper that never got on screen and died soon (no X server, bad
	// cookie) counts towards a crash loop; one that was killed while showing
	// the lock is started again at once, however often that happens.
	if !p.wasReady.Load() && time.Since(p.started) < fastDeath {
		st.fast++
	} else {
		st.fast = 0
	}
	delay := time.Duration(0)
	if st.fast > 2 {
		delay = time.Second // a crash loop (no X server?): still inside the 2 s promise
	}
	st.restarts++
	emit, dropped := s.rateLocked(st)
	sink, ctx := s.sink, s.ctx
	if delay == 0 {
		if err := s.startLocked(st); err != nil {
			delay = time.Second
			s.log.Error("Session helper not restarted", "session", id, "error", err)
		}
	}
	if delay > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.restartLater(ctx, st, delay)
		}()
	}
	stderr := p.stderr.String()
	s.mu.Unlock()

	s.log.Warn("Session helper died while showing something; started again", "session", id, "exit", exit, "stderr", stderr)
	if emit && sink != nil {
		data := map[string]string{protocol.DataSession: id, protocol.DataExit: exit}
		if dropped > 0 {
			data[protocol.DataSuppressed] = strconv.Itoa(dropped)
		}
		if err := sink.Emit(protocol.EventHelperRestarted, protocol.SeverityWarn, data); err != nil {
			s.log.Error("Emit event", "kind", protocol.EventHelperRestarted, "error", err)
		}
	}
}

// restartLater starts st's helper after delay, and keeps trying every second
// while it cannot be started and the state still wants it.
func (s *Supervisor) restartLater(ctx context.Context, st *seat, delay time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		s.mu.Lock()
		if !s.running || s.seats[st.id] != st || st.want.Empty() || st.proc != nil {
			s.mu.Unlock()
			return
		}
		err := s.startLocked(st)
		s.mu.Unlock()
		if err == nil {
			return
		}
		s.log.Debug("Session helper not restarted", "session", st.id, "error", err)
		delay = time.Second
	}
}

// rateLocked decides whether a restart event is sent (at most eventsLimit per
// minute per session) and how many were held back before it; s.mu must be held.
func (s *Supervisor) rateLocked(st *seat) (emit bool, dropped int) {
	now := time.Now()
	keep := st.events[:0]
	for _, t := range st.events {
		if now.Sub(t) < time.Minute {
			keep = append(keep, t)
		}
	}
	st.events = keep
	if len(st.events) >= eventsLimit {
		st.dropped++
		return false, 0
	}
	st.events = append(st.events, now)
	dropped, st.dropped = st.dropped, 0
	return true, dropped
}

func describeExit(p *proc, err error) string {
	why, _ := p.reason.Load().(string)
	var s string
	switch {
	case err == nil:
		s = "exited"
	default:
		s = err.Error() // "signal: killed", "exit status 1"
	}
	if why != "" {
		s = why + " (" + s + ")"
	}
	return protocol.Clip(s, 200)
}

// tailBuffer keeps the last max bytes written to it (a helper's stderr).
type tailBuffer struct {
	mu  sync.Mutex // guards b
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		cut := len(t.b) - t.max
		for n := 0; n < utf8.UTFMax-1 && cut < len(t.b) && !utf8.RuneStart(t.b[cut]); n++ {
			cut++ // do not keep the tail of a rune cut in half
		}
		t.b = append(t.b[:0], t.b[cut:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return protocol.Clip(string(t.b), t.max)
}
