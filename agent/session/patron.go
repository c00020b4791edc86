package session

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/agent/overlay"
	"github.com/carrel-kiosk/carrel/internal/atomicfile"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// The patron's signed-in session (Config.PatronSignIn): the sign-in form on
// the lock of a patron session, the hub's grant, and its enforcement.
//
// A patron session (the display manager's automatic logon of the patron
// account, a real OS session) opens under the sign-in form. What the patron
// types goes to the hub (Hub.SignIn); a Grant signed with the hub's grant key
// unlocks the session for Grant.Seconds, counted on the monotonic clock from
// the grant's arrival plus what a restart saved. At the end the session is
// logged off and wiped like any other (the verified wipe), and the next
// session's form says when the last clean wipe was verified.

// Hub answers sign-ins: the agent's link to its hub. SignIn returns an error
// wrapping ErrHubDown when there is no link.
type Hub interface {
	SignIn(ctx context.Context, s protocol.SignIn) (protocol.SignInAnswer, error)
}

// HubFunc adapts a function to Hub.
type HubFunc func(ctx context.Context, s protocol.SignIn) (protocol.SignInAnswer, error)

// SignIn calls f.
func (f HubFunc) SignIn(ctx context.Context, s protocol.SignIn) (protocol.SignInAnswer, error) {
	return f(ctx, s)
}

// ErrHubDown is a sign-in that could not reach the hub.
var ErrHubDown = errors.New("no link to the hub")

// SignInTimeout bounds one sign-in's round trip: the hub's own SIP2 timeout
// is 5 s, and a slow ILS is answered by the hub with RefuseILSDown inside it.
const SignInTimeout = 8 * time.Second

const (
	grantFileName = "patron-session.json"
	grantKeyName  = "grant-key"
	// checkpoint is how often the time used is saved. A restart counts one
	// checkpoint more than was saved: a crash never gives time back.
	checkpoint = 5 * time.Second
	// tickEvery is how often the running grant is checked.
	tickEvery = 500 * time.Millisecond
	// drift is how far the strip's end may be off before it is sent again
	// (the wall clock moved).
	drift = 2 * time.Second
)

// Mono reads a monotonic clock: the time since some fixed start. The
// default is time.Since of the Manager's start (Go's monotonic reading).
type Mono func() time.Duration

// savedGrant is the running grant in the state directory, so that an agent
// restarted during a session resumes it with the time already used.
type savedGrant struct {
	V       int            `json:"v"`
	Grant   protocol.Grant `json:"grant"`
	Session string         `json:"session"`
	Used    int64          `json:"used"` // whole seconds, at the last checkpoint
	Offline bool           `json:"offline,omitempty"`
	Reason  string         `json:"reason,omitempty"` // the end, once decided
}

// running is the grant in force on one patron session.
type running struct {
	g        protocol.Grant
	session  string
	base     time.Duration // used before arrival (a restart)
	arrived  time.Duration // Mono at arrival
	offline  bool
	warned   map[int]bool // the grant's warnings already given
	warnID   uint64
	warnMin  int
	warnRule int // the Grant.Warnings value the shown warning is for
	idleLeft int
	reason   string // the end decided, "" while running
	endTry   time.Duration
	saved    time.Duration // used at the last save
	shownEnd int64         // the EndsAt last shown (Unix ms)
}

// desk is the Manager's patron part. Lock order: desk.show before desk.mu;
// desk.mu is never held while calling the Manager's locked methods or the OS.
type desk struct {
	m    *Manager
	scr  patronScreen // nil: this OS or controller has no patron screen
	mono Mono
	dir  string

	hubMu sync.Mutex // guards hub
	hub   Hub

	show sync.Mutex // serialises ShowPatron calls, so that the last state wins

	mu       sync.Mutex // guards everything below
	key      ed25519.PublicKey
	run      *running
	resume   *savedGrant // loaded at start, until the first session list
	busy     bool        // a sign-in is being checked
	busyFor  string      // the session whose sign-in it is
	refusal  protocol.Refusal
	form     uint64
	nextWarn uint64
}

func newDesk(m *Manager, mono Mono, dir string) *desk {
	d := &desk{m: m, mono: mono, dir: dir}
	d.scr, _ = patronScreenOf(m.ctl)
	if b, err := os.ReadFile(filepath.Join(dir, grantKeyName)); err == nil {
		if k, err := parseGrantKey(strings.TrimSpace(string(b))); err == nil {
			d.key = k
		} else {
			m.log.Error("Saved grant key unreadable", "error", err)
		}
	}
	sg, err := loadGrant(filepath.Join(dir, grantFileName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		m.log.Error("Saved patron session unreadable; dropped", "error", err)
		_ = os.Remove(filepath.Join(dir, grantFileName))
	default:
		d.resume = &sg
	}
	return d
}

func parseGrantKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("grant key is not a base64 Ed25519 public key")
	}
	return ed25519.PublicKey(b), nil
}

func loadGrant(path string) (savedGrant, error) {
	var sg savedGrant
	b, err := os.ReadFile(path)
	if err != nil {
		return sg, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sg); err != nil {
		return savedGrant{}, fmt.Errorf("saved grant: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return savedGrant{}, errors.New("saved grant: trailing data")
	}
	ans := protocol.SignInAnswer{ID: "x", Grant: &sg.Grant}
	if sg.V != 1 || sg.Used < 0 || !sessionRe(sg.Session) || ans.Validate() != nil {
		return savedGrant{}, errors.New("saved grant: invalid")
	}
	return sg, nil
}

func sessionRe(s string) bool {
	return s != "" && len(s) <= 64 && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r > 0x7e })
}

// SetHub gives the Manager its link to the hub (the composition root builds
// the link after the seat).
func (m *Manager) SetHub(h Hub) {
	m.desk.hubMu.Lock()
	defer m.desk.hubMu.Unlock()
	m.desk.hub = h
}

// SetGrantKey keeps the hub's grant key (Welcome.GrantKey, base64), in memory
// and in the state directory, so that a restart can check a saved grant.
func (m *Manager) SetGrantKey(b64 string) error {
	if b64 == "" {
		return nil
	}
	k, err := parseGrantKey(b64)
	if err != nil {
		return err
	}
	d := m.desk
	d.mu.Lock()
	same := bytes.Equal(d.key, k)
	d.key = k
	d.mu.Unlock()
	if same {
		return nil
	}
	if err := atomicfile.WriteFile(filepath.Join(d.dir, grantKeyName), []byte(b64+"\n"), 0o600); err != nil {
		return fmt.Errorf("save grant key: %w", err)
	}
	return nil
}

// Patron is the signed-in session for the status (Status.Patron), nil when
// none runs.
func (m *Manager) Patron() *protocol.PatronView {
	d := m.desk
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.run
	if r == nil {
		return nil
	}
	left := time.Duration(r.g.Seconds)*time.Second - d.usedLocked(r)
	return &protocol.PatronView{Grant: r.g.ID, Kind: r.g.Kind, Patron: r.g.Patron,
		Ends: m.clock.Now().Add(max(left, 0)).Truncate(time.Second).UTC()}
}

// UpdateGrant applies the hub's GrantUpdate: the running session with the
// same grant ID gets the new end and rules; any other is ignored.
func (m *Manager) UpdateGrant(ctx context.Context, g protocol.Grant) error {
	d := m.desk
	d.mu.Lock()
	r := d.run
	if r == nil || r.g.ID != g.ID || r.offline {
		d.mu.Unlock()
		return nil
	}
	if err := d.checkLocked(g); err != nil {
		d.mu.Unlock()
		return err
	}
	r.g = g
	left := time.Duration(g.Seconds)*time.Second - d.usedLocked(r)
	for w := range r.warned {
		if left > time.Duration(w)*time.Minute {
			delete(r.warned, w) // time added: the warning comes again
		}
	}
	if r.warnID != 0 && left > time.Duration(r.warnRule)*time.Minute {
		r.warnID, r.warnMin, r.warnRule = 0, 0, 0
	}
	d.saveLocked(r)
	d.mu.Unlock()
	m.log.Info("Patron session's grant changed", "grant", g.ID, "seconds", g.Seconds)
	m.signal(m.changes)
	d.refresh(ctx)
	return nil
}

// checkLocked checks a grant from the hub: its signature, and that it is for
// a session at all; d.mu must be held.
func (d *desk) checkLocked(g protocol.Grant) error {
	if d.key == nil {
		return errors.New("no grant key from the hub yet")
	}
	if err := protocol.VerifyGrant(g, d.key); err != nil {
		return err
	}
	if g.Seconds <= 0 {
		return errors.New("grant of no time")
	}
	return nil
}

// usedLocked is the time r has run: monotonic, so a wall-clock change adds
// or takes nothing. d.mu must be held.
func (d *desk) usedLocked(r *running) time.Duration {
	return r.base + d.mono() - r.arrived
}

func (d *desk) saveLocked(r *running) {
	used := d.usedLocked(r)
	sg := savedGrant{V: 1, Grant: r.g, Session: r.session, Used: int64(used / time.Second), Offline: r.offline, Reason: r.reason}
	b, _ := json.Marshal(sg) // plain fields: cannot fail
	if err := atomicfile.WriteFile(filepath.Join(d.dir, grantFileName), b, 0o600); err != nil {
		d.m.log.Error("Save patron session", "error", err)
		return
	}
	r.saved = used
}

func (d *desk) dropSaved() {
	if err := os.Remove(filepath.Join(d.dir, grantFileName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.m.log.Error("Remove saved patron session", "error", err)
	}
}

// signedIn reports whether a grant runs (the seat is in use).
func (d *desk) signedIn() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.run != nil
}

// runsOn reports whether the grant runs on session id.
func (d *desk) runsOn(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.run != nil && d.run.session == id
}

// opened is a new patron session: a session a restart left running resumes
// its saved grant; any other gets the sign-in form. It reports whether the
// session was resumed.
func (d *desk) opened(ctx context.Context, s Session, initial bool) bool {
	d.mu.Lock()
	sg := d.resume
	resumed := false
	var bad error
	if sg != nil && initial && sg.Session == s.ID {
		d.resume = nil
		if !sg.Offline {
			bad = d.checkLocked(sg.Grant)
		}
		if bad == nil {
			// One checkpoint more than was saved: the time between the last
			// save and the stop is never given back.
			r := &running{g: sg.Grant, session: s.ID, base: time.Duration(sg.Used)*time.Second + checkpoint,
				arrived: d.mono(), offline: sg.Offline, warned: map[int]bool{}, reason: sg.Reason}
			left := time.Duration(r.g.Seconds)*time.Second - r.base
			for _, w := range r.g.Warnings {
				if left <= time.Duration(w)*time.Minute {
					r.warned[w] = true // given before the restart
				}
			}
			d.run, resumed = r, true
		}
	}
	d.mu.Unlock()
	switch {
	case bad != nil:
		// The session of a grant that no longer checks out: ended, and the
		// wipe follows. Never left open under a new patron's sign-in.
		d.m.log.Error("Saved patron session's grant does not check; ending the session", "session", s.ID, "error", bad)
		d.mu.Lock()
		d.run = &running{g: sg.Grant, session: s.ID, base: time.Duration(sg.Used) * time.Second, arrived: d.mono(), warned: map[int]bool{}, reason: protocol.EndRestart}
		d.mu.Unlock()
		d.m.background(func() { d.terminate(ctx, s) })
		return true
	case d.scr == nil && !resumed:
		// No helper on this OS (macOS): where patrons sign in, a session
		// nobody signed in to is not left open.
		d.m.log.Warn("Patron session without a sign-in screen on this OS; ending it", "session", s.ID)
		d.m.background(func() { d.terminate(ctx, s) })
		return false
	case resumed:
		d.m.log.Info("Patron session resumed after a restart", "session", s.ID, "grant", sg.Grant.ID, "used", sg.Used)
		d.m.mu.Lock()
		d.m.recompute()
		d.m.mu.Unlock()
		d.m.signal(d.m.changes)
	}
	d.m.background(func() { d.refresh(ctx) })
	return resumed
}

// listed is the watcher's first complete list: a saved grant whose session
// is gone (the PC restarted) is reported ended.
func (d *desk) listed() {
	d.mu.Lock()
	sg := d.resume
	d.resume = nil
	d.mu.Unlock()
	if sg == nil {
		return
	}
	d.dropSaved()
	used := min(sg.Used+int64(checkpoint/time.Second), sg.Grant.Seconds)
	d.m.emit(protocol.EventSessionEnded, protocol.SeverityInfo, map[string]string{
		protocol.DataSession: sg.Session, protocol.DataGrant: sg.Grant.ID,
		protocol.DataEndReason: protocol.EndRestart, protocol.DataUsed: strconv.FormatInt(used, 10),
	})
}

// closed is session id's logoff: the data of its session.ended event, with
// the grant's when one ran there, and whether the seat had a grant there.
func (d *desk) closed(id string) (map[string]string, bool) {
	data := map[string]string{protocol.DataSession: id}
	d.mu.Lock()
	r := d.run
	if r == nil || r.session != id {
		if d.busyFor == id {
			d.busy, d.busyFor = false, ""
		}
		d.mu.Unlock()
		return data, false
	}
	used := min(d.usedLocked(r), time.Duration(r.g.Seconds)*time.Second)
	reason := r.reason
	if reason == "" {
		reason = protocol.EndLogoff
	}
	d.run = nil
	d.mu.Unlock()
	d.dropSaved()
	data[protocol.DataGrant] = r.g.ID
	data[protocol.DataEndReason] = reason
	data[protocol.DataUsed] = strconv.FormatInt(int64(used/time.Second), 10)
	return data, true
}

// endFor marks the sessions staff end (end-session) so that their end says so.
func (d *desk) endFor(ids []string, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.run != nil && d.run.reason == "" && slices.Contains(ids, d.run.session) {
		d.run.reason = reason
		d.saveLocked(d.run)
	}
}

// input handles one thing the patron did on the patron screen.
func (d *desk) input(ctx context.Context, in overlay.Input) {
	switch in.Report.T {
	case overlay.ReportSignIn:
		d.mu.Lock()
		if d.busy {
			d.mu.Unlock()
			in.Report.Wipe()
			return
		}
		d.busy, d.busyFor, d.refusal = true, in.Session, ""
		d.mu.Unlock()
		d.m.background(func() { d.signIn(ctx, in.Session, in.Report) })
	case overlay.ReportWarnAck:
		d.mu.Lock()
		r := d.run
		if r == nil || r.session != in.Session || r.warnID == 0 || r.warnID != in.Report.WarnID {
			d.mu.Unlock()
			return
		}
		id, minutes := r.g.ID, r.warnMin
		r.warnID, r.warnMin, r.warnRule = 0, 0, 0
		d.mu.Unlock()
		d.m.emit(protocol.EventSessionWarned, protocol.SeverityInfo, map[string]string{
			protocol.DataGrant: id, protocol.DataMinutes: strconv.Itoa(minutes)})
		d.refresh(ctx)
	case overlay.ReportEndSession:
		d.mu.Lock()
		r := d.run
		ok := r != nil && r.session == in.Session && r.reason == ""
		d.mu.Unlock()
		if ok {
			d.m.log.Info("Patron ended their session", "session", in.Session)
			d.end(ctx, protocol.EndPatron)
		}
	}
}

// signIn asks the hub about what the patron typed and applies the answer.
// It zeroes the typed secrets before it returns.
func (d *desk) signIn(ctx context.Context, session string, rep overlay.Report) {
	refuse := func(why protocol.Refusal) {
		d.mu.Lock()
		d.busy, d.busyFor, d.refusal = false, "", why
		d.form++
		d.mu.Unlock()
		d.refresh(ctx)
	}
	d.refresh(ctx) // "Checking…"
	if d.signedIn() {
		rep.Wipe()
		refuse(protocol.RefuseNotFree)
		return
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	req := protocol.SignIn{ID: "s-" + hex.EncodeToString(id[:]), Card: string(rep.Card), PIN: string(rep.PIN), Guest: string(rep.Guest)}
	rep.Wipe()
	guest := req.Guest != ""
	if err := req.Validate(); err != nil {
		req = protocol.SignIn{}
		refuse(protocol.RefuseCardUnknown)
		return
	}
	d.hubMu.Lock()
	hub := d.hub
	d.hubMu.Unlock()
	var ans protocol.SignInAnswer
	err := ErrHubDown
	start := time.Now()
	if hub != nil {
		cctx, cancel := context.WithTimeout(ctx, SignInTimeout)
		ans, err = hub.SignIn(cctx, req)
		cancel()
	}
	reqID := req.ID
	req = protocol.SignIn{} // the only copies left are the garbage collector's
	took := time.Since(start).Round(time.Millisecond)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: no answer within %s", ErrHubDown, SignInTimeout)
		}
		mins := d.m.cfg.OfflineMinutes
		if mins <= 0 {
			d.m.log.Warn("Sign-in: no answer from the hub; the PC stays locked", "error", err, "took", took)
			refuse(protocol.RefuseHubDown)
			return
		}
		d.m.log.Warn("Sign-in: no answer from the hub; offline session", "error", err, "minutes", mins)
		d.start(ctx, session, offlineGrant(d.m.clock.Now(), mins), true)
		return
	}
	switch {
	case ans.ID != reqID:
		d.m.log.Error("Sign-in: the hub answered another request", "id", protocol.Clip(ans.ID, 40))
		refuse(protocol.RefuseError)
	case ans.Refusal != "":
		d.m.log.Info("Sign-in refused", "refusal", ans.Refusal, "guest", guest, "took", took)
		refuse(ans.Refusal)
	case ans.Grant != nil:
		d.mu.Lock()
		err := d.checkLocked(*ans.Grant)
		d.mu.Unlock()
		if err != nil {
			d.m.log.Error("Sign-in: the hub's grant does not check; refused", "error", err)
			refuse(protocol.RefuseError)
			return
		}
		d.m.log.Info("Sign-in granted", "grant", ans.Grant.ID, "kind", ans.Grant.Kind, "seconds", ans.Grant.Seconds, "took", took)
		d.start(ctx, session, *ans.Grant, false)
	default:
		refuse(protocol.RefuseError)
	}
}

// offlineGrant is the agent's own grant while the hub cannot be reached.
func offlineGrant(now time.Time, minutes int) protocol.Grant {
	var id [6]byte
	_, _ = rand.Read(id[:])
	secs := int64(min(minutes, 24*60)) * 60
	g := protocol.Grant{ID: "offline-" + hex.EncodeToString(id[:]), Terminal: "offline", Kind: protocol.PatronGuest,
		Patron: "offline", Issued: now, Ends: now.Add(time.Duration(secs) * time.Second), Seconds: secs, EndsBy: "offline"}
	for _, w := range []int{5, 1} {
		if int64(w)*60 < secs {
			g.Warnings = append(g.Warnings, w)
		}
	}
	return g
}

// start opens the signed-in session on session for g.
func (d *desk) start(ctx context.Context, session string, g protocol.Grant, offline bool) {
	d.mu.Lock()
	d.busy, d.busyFor, d.refusal = false, "", ""
	d.form++
	if d.run != nil {
		d.mu.Unlock()
		d.refresh(ctx)
		return
	}
	r := &running{g: g, session: session, arrived: d.mono(), offline: offline, warned: map[int]bool{}}
	d.run = r
	d.saveLocked(r)
	d.mu.Unlock()
	d.m.emit(protocol.EventSessionStarted, protocol.SeverityInfo, map[string]string{
		protocol.DataSession: session, protocol.DataGrant: g.ID, protocol.DataPatron: g.Patron, protocol.DataKind: string(g.Kind),
	})
	d.m.mu.Lock()
	d.m.recompute()
	d.m.mu.Unlock()
	d.m.signal(d.m.changes)
	d.refresh(ctx)
}

// end decides the running session's end and logs it off (the wipe follows
// through the logoff).
func (d *desk) end(ctx context.Context, reason string) {
	d.mu.Lock()
	r := d.run
	if r == nil || r.reason != "" && r.endTry != 0 {
		d.mu.Unlock()
		return
	}
	if r.reason == "" {
		r.reason = reason
	}
	r.endTry = d.mono()
	d.saveLocked(r)
	id := r.session
	d.mu.Unlock()
	d.m.log.Info("Patron session ending", "session", id, "reason", r.reason)
	d.refresh(ctx)
	d.m.mu.Lock()
	s, ok := d.m.sessions[id]
	d.m.mu.Unlock()
	if ok {
		d.m.background(func() { d.terminate(ctx, s) })
	}
}

func (d *desk) terminate(ctx context.Context, s Session) {
	if err := d.m.ctl.Terminate(ctx, s); err != nil {
		d.m.log.Error("End patron session", "session", s.ID, "error", err)
		d.mu.Lock()
		if d.run != nil {
			d.run.endTry = 0 // the next tick tries again
		}
		d.mu.Unlock()
	}
}

// tick enforces the running grant: its end, its warnings, idle input, and
// keeps the strip's end true when the wall clock moved.
func (d *desk) tick(ctx context.Context) {
	d.mu.Lock()
	r := d.run
	if r == nil {
		d.mu.Unlock()
		return
	}
	used := d.usedLocked(r)
	left := time.Duration(r.g.Seconds)*time.Second - used
	if r.reason != "" {
		retry := r.endTry == 0 || d.mono()-r.endTry > 5*time.Second
		d.mu.Unlock()
		if retry {
			d.end(ctx, r.reason)
		}
		return
	}
	if left <= 0 {
		d.mu.Unlock()
		reason := protocol.EndTimeUp
		switch {
		case r.offline:
			reason = protocol.EndOffline
		case r.g.EndsBy == "closing":
			reason = protocol.EndClosing // the grant ran to the library's closing
		}
		d.end(ctx, reason)
		return
	}
	changed := false
	// Warnings: the most urgent crossed one shows (several may cross at
	// once in a short grant); each is given once.
	rule := 0
	for _, w := range r.g.Warnings {
		if left <= time.Duration(w)*time.Minute && !r.warned[w] {
			r.warned[w] = true
			if rule == 0 || w < rule {
				rule = w
			}
		}
	}
	if rule != 0 {
		d.nextWarn++
		r.warnID, r.warnRule = d.nextWarn, rule
		r.warnMin = max(int((left+time.Minute-1)/time.Minute), 1)
		changed = true
	}
	idleEnd, idleWarn := r.g.IdleEnd, r.g.IdleWarn
	id := r.session
	if used-r.saved >= checkpoint {
		d.saveLocked(r)
	}
	wantEnd := d.m.clock.Now().Add(left).UnixMilli()
	if abs(wantEnd-r.shownEnd) > drift.Milliseconds() {
		changed = true
	}
	d.mu.Unlock()

	idleLeft := 0
	if idleEnd > 0 && d.scr != nil {
		d.m.mu.Lock()
		s, ok := d.m.sessions[id]
		d.m.mu.Unlock()
		if idle, known := d.scr.PatronIdle(s); ok && known {
			switch {
			case idle >= time.Duration(idleEnd)*time.Second:
				d.m.log.Info("Patron session idle; ending it", "session", id, "idle", idle)
				d.end(ctx, protocol.EndIdle)
				return
			case idleWarn > 0 && idle >= time.Duration(idleEnd-idleWarn)*time.Second:
				idleLeft = max(int(idleEnd-int64(idle/time.Second)), 1)
			}
		}
	}
	d.mu.Lock()
	if d.run == r && r.idleLeft != idleLeft {
		r.idleLeft = idleLeft
		changed = true
	}
	d.mu.Unlock()
	if changed {
		d.m.signal(d.m.changes) // the status's end moves too
		d.refresh(ctx)
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// refresh shows every open patron session its patron screen: the running
// session its strip, every other one the sign-in form (the staff lock
// without the form while staff hold the seat).
func (d *desk) refresh(ctx context.Context) {
	if d.scr == nil {
		return
	}
	d.show.Lock()
	defer d.show.Unlock()
	d.m.mu.Lock()
	open := d.m.patronSessions()
	staff := d.m.ls.Locked
	cleanAt := d.m.ls.CleanAt
	d.m.mu.Unlock()
	type shown struct {
		s    Session
		lock bool
		p    overlay.PatronScreen
	}
	var all []shown
	d.mu.Lock()
	for _, s := range open {
		if r := d.run; r != nil && r.session == s.ID {
			left := time.Duration(r.g.Seconds)*time.Second - d.usedLocked(r)
			r.shownEnd = d.m.clock.Now().Add(max(left, 0)).UnixMilli()
			p := overlay.PatronScreen{EndsAt: max(r.shownEnd, 1), WarnID: r.warnID, Warn: r.warnMin, IdleLeft: r.idleLeft, Ending: r.reason != ""}
			all = append(all, shown{s, staff, p})
			continue
		}
		p := overlay.PatronScreen{SignIn: !staff, Form: d.form}
		if !staff {
			p.Busy = d.busy && d.busyFor == s.ID
			if d.busyFor == s.ID || d.busyFor == "" {
				p.Refusal = d.refusal
			}
			if !cleanAt.IsZero() {
				p.CleanAt = cleanAt.UnixMilli()
			}
		}
		all = append(all, shown{s, true, p})
	}
	d.mu.Unlock()
	for _, v := range all {
		err := d.scr.ShowPatron(ctx, v.s, v.lock, v.p)
		switch {
		case err == nil, errors.Is(err, overlay.ErrNotRunning):
		case errors.Is(err, ErrNotImplemented) && v.p.SignIn:
			// A patron session the helper cannot draw in (Wayland, text):
			// where patrons sign in, it cannot be used without signing in.
			d.m.log.Warn("Patron session without a sign-in screen; ending it", "session", v.s.ID)
			d.m.background(func() { d.terminate(ctx, v.s) })
		case errors.Is(err, ErrNotImplemented):
		default:
			d.m.log.Warn("Patron screen not shown", "session", v.s.ID, "error", err)
		}
	}
}

// runDesk feeds the patron screen's inputs to the desk and ticks the grant
// until ctx ends.
func (d *desk) runDesk(ctx context.Context) {
	var inputs <-chan overlay.Input
	if d.scr != nil {
		inputs = d.scr.PatronInputs()
	}
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case in := <-inputs:
			d.input(ctx, in)
		case <-t.C:
			d.tick(ctx)
		}
	}
}
