// Package patron is the hub's sign-in service for patron sessions (issue 12):
// it answers an agent's protocol.SignIn with a signed protocol.Grant or a
// protocol.Refusal, keeps the daily allowance, the guest passes and the
// branches' time rules, and settles sessions when their PC reports them
// ended. The agent side (the lock screen, enforcing the grant) is agent/'s;
// the wire types are internal/protocol's; SIP2 is internal/sip2's.
//
// A card sign-in asks the library's ILS over SIP2 (the hub's own SIP account,
// a small pool of connections) whether the card and PIN may sign in, and maps
// the answer to a refusal through the ILS profile; an ILS that does not answer
// within the SIP2 timeout (default 5 s) is RefuseILSDown, never a hang. Five
// wrong PINs on one card hold that card (RefuseTooManyTries) for LockFor,
// audited under the card's pseudonym.
//
// Guest passes are made in batches by staff: random codes of GuestCodeLength
// letters and digits from an alphabet without look-alikes, stored as SHA-256
// (the codes carry about 60 bits, so a fast hash is enough), with no identity.
// A pass signs in once: a minutes pass for its minutes, a day pass until the
// end of the day it was made (both capped by closing); a pass used or expired
// is refused. An unused pass expires at the end of the day it was made.
//
// Time rules are per branch (protocol.Rules, branch "" the defaults): the
// session's length, a card's daily allowance across every PC, warnings, idle
// end, opening hours with dated exceptions and a last-sign-in cutoff. Closing
// time caps every grant's end.
//
// What it keeps (privacy): a card is known only by an HMAC of its number
// under a random key of the day (store.PatronDayKey); the ledger of seconds
// used per day is keyed by it, and housekeeping deletes the day's key and
// ledger after the day, after which no row can be tied to a card. The grant's
// Patron, shown to staff and in events and audit rows, is a short form of that
// HMAC ("card-1a2b3c4d"), or "guest". A card number and PIN live in memory for
// one sign-in; they are never stored, logged or put in an error.
//
// One card cannot spend its allowance twice: the allowance is reserved in one
// write transaction at the grant (store.StartCardSession), which refuses a
// card with a session running at another PC (RefuseInUse), and settled when
// the PC reports session.ended with the seconds used (Ended).
//
// Limitations (2026-12): the PIN lockout is held in memory (a hub restart
// forgets it; it resets at midnight with the day key anyway); hours do not
// cross midnight; a pass expires the day it was made; staff time changes are
// capped by closing like every grant; LastWipe in the answer is left zero:
// the sign-in form's "erased and checked at" line is the agent's own verified
// wipe time (agent/session), which the form needs before any answer.
package patron

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/sip2"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// Config is a Service's.
type Config struct {
	Store *store.Store
	// ILS asks the library's ILS; nil: card sign-in is not configured and
	// every card is refused as ils-down (guest passes still work).
	ILS *sip2.Client
	// ILSAddr and ILSProfile are shown in the link state.
	ILSAddr, ILSProfile string
	// Key signs the grants (the hub's grant.key).
	Key ed25519.PrivateKey
	// Location is the library's time zone for hours and days (default
	// time.Local).
	Location *time.Location
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Timeout bounds a whole sign-in, the ILS's answer included (default
	// 6 s: the SIP2 client's own 5 s plus the store).
	Timeout time.Duration
	// MaxTries wrong PINs on one card hold it for LockFor (defaults 5 and
	// 15 minutes).
	MaxTries int
	LockFor  time.Duration
	Log      *slog.Logger
	// Count, when set, is called for each sign-in granted (MetricSignIns,
	// label the PatronKind), refused (MetricSignInRefused, label the
	// Refusal) and each batch of guest passes (MetricGuestPasses, n passes,
	// terminal ""). It must not block.
	Count func(metric protocol.Metric, label, terminal string, n int64)
}

// Service answers sign-ins. Safe for concurrent use.
type Service struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex           // guards the fields below
	keys  map[string][]byte    // day → pseudonym key, a cache of the store's
	tries map[string]*tryState // card pseudonym (hex) → wrong PINs
	link  protocol.ILSLink
}

type tryState struct {
	failures int
	until    time.Time // held until then
	last     time.Time
}

// Errors of the staff operations.
var (
	ErrNoSession = errors.New("no patron session on this PC")
)

// New checks cfg and returns a service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("patron: no store")
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("patron: no grant key")
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 6 * time.Second
	}
	if cfg.MaxTries <= 0 {
		cfg.MaxTries = 5
	}
	if cfg.LockFor <= 0 {
		cfg.LockFor = 15 * time.Minute
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, log: log, keys: map[string][]byte{}, tries: map[string]*tryState{}}
	s.link = protocol.ILSLink{State: protocol.ILSNotConfigured, Addr: cfg.ILSAddr, Profile: cfg.ILSProfile}
	if cfg.ILS != nil {
		s.link.State = protocol.ILSUnknown
	}
	return s, nil
}

func (s *Service) now() time.Time { return s.cfg.Now().In(s.cfg.Location) }

func (s *Service) count(m protocol.Metric, label, terminal string, n int64) {
	if s.cfg.Count != nil {
		s.cfg.Count(m, label, terminal, n)
	}
}

// Rules are the rules in force for branch: its own, else the defaults
// (branch ""), else protocol.DefaultRules.
func (s *Service) Rules(ctx context.Context, branch string) (protocol.Rules, error) {
	r, _, err := BranchRules(ctx, s.cfg.Store, branch)
	return r, err
}

// BranchRules are the rules in force for branch and whether they are its own.
func BranchRules(ctx context.Context, st *store.Store, branch string) (protocol.Rules, bool, error) {
	for _, b := range []string{branch, ""} {
		r, ok, err := st.PatronRules(ctx, b)
		if err != nil {
			return protocol.Rules{}, false, err
		}
		if ok {
			return r, b == branch, nil
		}
		if b == "" {
			break
		}
	}
	return protocol.DefaultRules(), false, nil
}

// SetRules replaces a branch's rules (nil: the branch follows the defaults
// again), audited by actor.
func (s *Service) SetRules(ctx context.Context, branch string, r *protocol.Rules, actor string) error {
	return s.cfg.Store.SetPatronRules(ctx, branch, r, actor)
}

// ILS is the state of the link to the ILS.
func (s *Service) ILS() protocol.ILSLink {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.link
}

func (s *Service) setLink(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	state, text := protocol.ILSUp, ""
	if err != nil {
		state, text = protocol.ILSDown, err.Error()
	}
	if s.link.State != state {
		s.link.Since = s.cfg.Now().UTC()
		if err != nil {
			s.log.Warn("ILS link down: card sign-in refused until it answers", "err", err)
		} else if s.link.State == protocol.ILSDown {
			s.log.Info("ILS link up again")
		}
	}
	s.link.State = state
	if err != nil {
		s.link.LastError = text
	}
}

// CheckILS asks the ILS for its status (a 99) and updates the link state; a
// hub without an ILS does nothing.
func (s *Service) CheckILS(ctx context.Context) {
	if s.cfg.ILS == nil {
		return
	}
	s.setLink(s.cfg.ILS.Status(ctx))
}

// dayKey is day's pseudonym key.
func (s *Service) dayKey(ctx context.Context, day string) ([]byte, error) {
	s.mu.Lock()
	k := s.keys[day]
	s.mu.Unlock()
	if k != nil {
		return k, nil
	}
	k, err := s.cfg.Store.PatronDayKey(ctx, day)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.keys[day] = k
	s.mu.Unlock()
	return k, nil
}

// pseudonym is the card's ledger key on day and its short form for staff.
func pseudonym(key []byte, card string) (ledger []byte, short string) {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("carrel card v1\x00"))
	m.Write([]byte(card))
	ledger = m.Sum(nil)
	return ledger, "card-" + hex.EncodeToString(ledger[:4])
}

// SignIn answers one sign-in at terminal (in branch) within Config.Timeout.
// It never fails: every problem is a Refusal.
func (s *Service) SignIn(ctx context.Context, terminal, branch string, req protocol.SignIn) protocol.SignInAnswer {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	a := protocol.SignInAnswer{ID: req.ID}
	g, ref := s.signIn(ctx, terminal, branch, &req)
	if ref != "" {
		a.Refusal = ref
		s.count(protocol.MetricSignInRefused, string(ref), terminal, 1)
		return a
	}
	a.Grant = g
	s.count(protocol.MetricSignIns, string(g.Kind), terminal, 1)
	return a
}

func (s *Service) signIn(ctx context.Context, terminal, branch string, req *protocol.SignIn) (*protocol.Grant, protocol.Refusal) {
	if err := req.Validate(); err != nil {
		return nil, protocol.RefuseError
	}
	rules, err := s.Rules(ctx, branch)
	if err != nil {
		s.log.Error("Sign-in: rules unreadable", "terminal", terminal, "err", err)
		return nil, protocol.RefuseError
	}
	now := s.now()
	open, closes := closing(&rules, now)
	if !open {
		return nil, protocol.RefuseClosed
	}
	if req.Guest != "" {
		return s.guest(ctx, terminal, &rules, closes, now, req.Guest)
	}
	return s.card(ctx, terminal, &rules, closes, now, req.Card, req.PIN)
}

func (s *Service) card(ctx context.Context, terminal string, rules *protocol.Rules, closes, now time.Time, card, pin string) (*protocol.Grant, protocol.Refusal) {
	day := now.Format(time.DateOnly)
	key, err := s.dayKey(ctx, day)
	if err != nil {
		s.log.Error("Sign-in: day key unavailable", "terminal", terminal, "err", err)
		return nil, protocol.RefuseError
	}
	ledger, short := pseudonym(key, card)
	if s.held(short, now) {
		return nil, protocol.RefuseTooManyTries
	}
	if s.cfg.ILS == nil {
		return nil, protocol.RefuseILSDown
	}
	p, err := s.cfg.ILS.Authenticate(ctx, card, pin)
	if err != nil {
		if ctx.Err() == nil || errors.Is(err, sip2.ErrUnavailable) {
			s.setLink(err)
		}
		s.log.Info("Card sign-in: ILS unavailable", "terminal", terminal, "err", err)
		return nil, protocol.RefuseILSDown
	}
	s.setLink(nil)
	switch p.Outcome {
	case sip2.OutcomeUnknownCard:
		return nil, protocol.RefuseCardUnknown
	case sip2.OutcomePINWrong:
		s.wrongPIN(ctx, terminal, short, now)
		return nil, protocol.RefusePIN
	case sip2.OutcomeBlocked:
		if p.Reason&(sip2.BlockExcessiveFines|sip2.BlockExcessiveFees|sip2.BlockFeeLimit) != 0 {
			return nil, protocol.RefuseFines
		}
		return nil, protocol.RefuseBlocked
	case sip2.OutcomeOK:
	default:
		return nil, protocol.RefuseError
	}
	s.rightPIN(short)
	var g *protocol.Grant
	var refusal protocol.Refusal
	err = s.cfg.Store.StartCardSession(ctx, terminal, ledger, day, now, func(used int64) (store.PatronSession, error) {
		var limits []limit
		if rules.SessionMinutes > 0 {
			limits = append(limits, limit{now.Add(time.Duration(rules.SessionMinutes) * time.Minute), "session"})
		}
		if rules.DailyMinutes > 0 {
			left := time.Duration(int64(rules.DailyMinutes)*60-used) * time.Second
			if left < time.Minute {
				refusal = protocol.RefuseNoTime
				return store.PatronSession{}, errRefused
			}
			limits = append(limits, limit{now.Add(left), "allowance"})
		}
		g = s.grant(terminal, protocol.PatronCard, short, rules, closes, now, limits)
		return s.row(g, day)
	})
	switch {
	case errors.Is(err, errRefused):
		return nil, refusal
	case errors.Is(err, store.ErrPatronInUse):
		return nil, protocol.RefuseInUse
	case err != nil:
		s.log.Error("Card sign-in: session not recorded", "terminal", terminal, "err", err)
		return nil, protocol.RefuseError
	}
	s.log.Info("Patron signed in", "terminal", terminal, "grant", g.ID, "patron", g.Patron, "ends", g.Ends, "endsBy", g.EndsBy)
	return g, ""
}

var errRefused = errors.New("refused")

// limit is one candidate end of a grant and what sets it.
type limit struct {
	at time.Time
	by string
}

// grant makes and signs a grant ending at the earliest of limits, closing and
// a day from now.
func (s *Service) grant(terminal string, kind protocol.PatronKind, patron string, rules *protocol.Rules, closes, now time.Time, limits []limit) *protocol.Grant {
	end := limit{now.Add(24 * time.Hour), "session"}
	if !closes.IsZero() {
		limits = append(limits, limit{closes, "closing"})
	}
	for _, l := range limits {
		if l.at.Before(end.at) {
			end = l
		}
	}
	g := &protocol.Grant{ID: "g-" + randomHex(8), Terminal: terminal, Kind: kind, Patron: patron,
		Issued: now.UTC(), Ends: end.at.UTC(), Seconds: int64(end.at.Sub(now) / time.Second), EndsBy: end.by,
		Warnings: rules.WarningsOrDefault()}
	if rules.IdleMinutes > 0 {
		g.IdleEnd = int64(rules.IdleMinutes) * 60
		g.IdleWarn = int64(rules.IdleWarnSeconds)
		if g.IdleWarn == 0 {
			g.IdleWarn = min(protocol.DefaultIdleWarnSeconds, g.IdleEnd)
		}
	}
	protocol.SignGrant(g, s.cfg.Key)
	return g
}

func (s *Service) row(g *protocol.Grant, day string) (store.PatronSession, error) {
	b, err := json.Marshal(g)
	if err != nil {
		return store.PatronSession{}, err
	}
	return store.PatronSession{ID: g.ID, Day: day, Issued: g.Issued, Ends: g.Ends, Grant: string(b)}, nil
}

func (s *Service) guest(ctx context.Context, terminal string, rules *protocol.Rules, closes, now time.Time, code string) (*protocol.Grant, protocol.Refusal) {
	code = NormalizeCode(code)
	var g *protocol.Grant
	day := now.Format(time.DateOnly)
	err := s.cfg.Store.StartGuestSession(ctx, terminal, sha256.Sum256([]byte(code)), now, func(p store.GuestPass) (store.PatronSession, error) {
		end := limit{p.Expires, "guest"}
		if p.Minutes > 0 {
			end.at = now.Add(time.Duration(p.Minutes) * time.Minute)
		}
		g = s.grant(terminal, protocol.PatronGuest, string(protocol.PatronGuest), rules, closes, now, []limit{end})
		return s.row(g, day)
	})
	switch {
	case errors.Is(err, store.ErrGuestUnknown):
		return nil, protocol.RefuseGuestUnknown
	case errors.Is(err, store.ErrGuestUsed), errors.Is(err, store.ErrGuestExpired):
		return nil, protocol.RefuseGuestExpired
	case err != nil:
		s.log.Error("Guest sign-in: session not recorded", "terminal", terminal, "err", err)
		return nil, protocol.RefuseError
	}
	s.log.Info("Guest signed in", "terminal", terminal, "grant", g.ID, "ends", g.Ends, "endsBy", g.EndsBy)
	return g, ""
}

// held says the card is held after too many wrong PINs.
func (s *Service) held(short string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tries[short]
	return t != nil && now.Before(t.until)
}

// wrongPIN counts a wrong PIN; the MaxTries-th holds the card, audited under
// its pseudonym (never the card or the PIN).
func (s *Service) wrongPIN(ctx context.Context, terminal, short string, now time.Time) {
	s.mu.Lock()
	t := s.tries[short]
	if t == nil {
		t = &tryState{}
		s.tries[short] = t
	}
	t.failures++
	t.last = now
	lock := t.failures >= s.cfg.MaxTries
	if lock {
		t.failures, t.until = 0, now.Add(s.cfg.LockFor)
	}
	s.mu.Unlock()
	if !lock {
		return
	}
	s.log.Warn("Card held after repeated wrong PINs", "patron", short, "terminal", terminal, "until", now.Add(s.cfg.LockFor))
	if err := s.cfg.Store.Audit(context.WithoutCancel(ctx), "hub", protocol.AuditPatronLockout, short, map[string]string{
		protocol.AuditKeyTerminal: terminal, protocol.AuditKeyFailures: strconv.Itoa(s.cfg.MaxTries),
		protocol.AuditKeyLockedUntil: now.Add(s.cfg.LockFor).UTC().Format(time.RFC3339)}); err != nil {
		s.log.Error("Audit of a card lockout failed", "err", err)
	}
}

func (s *Service) rightPIN(short string) {
	s.mu.Lock()
	delete(s.tries, short)
	s.mu.Unlock()
}

// Ended settles the session an agent reported ended (a session.ended event's
// data: DataGrant, DataUsed). Events without a grant (an OS logon without
// sign-in) are ignored.
func (s *Service) Ended(ctx context.Context, terminal string, data map[string]string) error {
	id := data[protocol.DataGrant]
	if id == "" {
		return nil
	}
	used, err := strconv.ParseInt(data[protocol.DataUsed], 10, 64)
	if err != nil {
		used = -1 // unknown: the elapsed time, counted below
	}
	if used < 0 {
		ps, err := s.cfg.Store.PatronSessionByID(ctx, id)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}
		used = int64(min(s.now().Sub(ps.Issued), ps.Ends.Sub(ps.Issued)) / time.Second)
	}
	_, err = s.cfg.Store.SettlePatronSession(ctx, id, terminal, used, s.now())
	return err
}

// Session is the running session's grant at terminal, or ErrNoSession.
func (s *Service) Session(ctx context.Context, terminal string) (protocol.Grant, error) {
	ps, err := s.cfg.Store.RunningPatronSession(ctx, terminal)
	if errors.Is(err, store.ErrNotFound) {
		return protocol.Grant{}, ErrNoSession
	}
	if err != nil {
		return protocol.Grant{}, err
	}
	var g protocol.Grant
	if err := json.Unmarshal([]byte(ps.Grant), &g); err != nil {
		return protocol.Grant{}, fmt.Errorf("session %s: %w", ps.ID, err)
	}
	return g, nil
}

// AddTime moves the end of terminal's running session by minutes (negative:
// removes time; the end is not moved before now, nor past closing) and
// returns the new signed grant for the agent (protocol.GrantUpdate), audited
// by actor.
func (s *Service) AddTime(ctx context.Context, terminal, branch string, minutes int, actor string) (protocol.Grant, error) {
	if minutes == 0 || minutes > 24*60 || minutes < -24*60 {
		return protocol.Grant{}, fmt.Errorf("add time: %d minutes is out of range (-1440 to 1440, not 0)", minutes)
	}
	g, err := s.Session(ctx, terminal)
	if err != nil {
		return protocol.Grant{}, err
	}
	now := s.now()
	end := g.Ends.Add(time.Duration(minutes) * time.Minute)
	if end.Before(now) {
		end = now
	}
	if end.After(now.Add(24 * time.Hour)) {
		end = now.Add(24 * time.Hour)
	}
	rules, err := s.Rules(ctx, branch)
	if err != nil {
		return protocol.Grant{}, err
	}
	endsBy := "staff"
	if _, closes := closing(&rules, now); !closes.IsZero() && closes.Before(end) {
		end, endsBy = closes, "closing"
	}
	g.Issued, g.Ends, g.Seconds, g.EndsBy = now.UTC(), end.UTC(), int64(end.Sub(now)/time.Second), endsBy
	protocol.SignGrant(&g, s.cfg.Key)
	b, _ := json.Marshal(g)
	if err := s.cfg.Store.ChangePatronSession(ctx, g.ID, g.Ends, string(b), actor, map[string]string{
		protocol.AuditKeyGrant: g.ID, protocol.AuditKeyMinutes: strconv.Itoa(minutes),
		protocol.AuditKeyExpires: g.Ends.Format(time.RFC3339)}); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return protocol.Grant{}, ErrNoSession
		}
		return protocol.Grant{}, err
	}
	return g, nil
}

// Housekeeping forgets yesterday: it settles sessions no PC reported ended
// (an hour past their end), deletes the day keys and ledgers of past days
// (and the cached keys), ended sessions and expired passes older than a day,
// and PIN holds that are over.
func (s *Service) Housekeeping(ctx context.Context) error {
	now := s.now()
	today := now.Format(time.DateOnly)
	if _, err := s.cfg.Store.SettleExpiredSessions(ctx, now, time.Hour); err != nil {
		return err
	}
	n, err := s.cfg.Store.PrunePatronDays(ctx, today, now.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	s.mu.Lock()
	for d := range s.keys {
		if d < today {
			delete(s.keys, d)
		}
	}
	for k, t := range s.tries {
		if now.After(t.until) && now.Sub(t.last) > s.cfg.LockFor {
			delete(s.tries, k)
		}
	}
	s.mu.Unlock()
	if n > 0 {
		s.log.Info("Past days' card pseudonym keys deleted", "days", n)
	}
	return nil
}

// The guest pass code alphabet: upper-case letters and digits without 0/O,
// 1/I/L, 2/Z, 5/S and 8/B, which people misread on paper.
const codeAlphabet = "ACDEFGHJKMNPQRTUVWXY34679"

// GuestCodeLength is a code's length in alphabet characters (about 60 bits),
// printed as groups of four.
const GuestCodeLength = 13

// MaxGuestBatch bounds one batch.
const MaxGuestBatch = 500

// NewGuestCode returns a random guest code, grouped "XXXX-XXXX-XXXXX".
func NewGuestCode() string {
	var b strings.Builder
	buf := make([]byte, GuestCodeLength)
	for i := 0; i < GuestCodeLength; {
		rand.Read(buf)
		for _, c := range buf {
			if i == GuestCodeLength {
				break
			}
			if int(c) >= 250 { // 250 = 10 × 25: keep the choice uniform
				continue
			}
			if i == 4 || i == 8 {
				b.WriteByte('-')
			}
			b.WriteByte(codeAlphabet[int(c)%len(codeAlphabet)])
			i++
		}
	}
	return b.String()
}

// NormalizeCode is a code as typed, in the form its hash is of: upper case,
// without spaces and dashes.
func NormalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, code)
}

// GuestBatch is what staff ask for: Count passes, each for Minutes minutes,
// or for the day when Minutes is 0.
type GuestBatch struct {
	Count   int
	Minutes int
	Branch  string
}

// GuestPasses is a made batch. The codes are shown once: only their hashes
// are kept.
type GuestPasses struct {
	Batch   string
	Codes   []string
	Minutes int
	Expires time.Time
}

// CreateGuestPasses makes a batch of passes, audited by actor.
func (s *Service) CreateGuestPasses(ctx context.Context, b GuestBatch, actor string) (GuestPasses, error) {
	out, err := CreateGuestPasses(ctx, s.cfg.Store, b, actor, s.now())
	if err != nil {
		return GuestPasses{}, err
	}
	s.count(protocol.MetricGuestPasses, "", "", int64(b.Count))
	return out, nil
}

// CreateGuestPasses makes a batch of passes in st at now (the library's
// local time: unused passes expire at its end of the day), audited by actor;
// for the CLI, which has no running service (batches made here are not
// counted in the usage metrics; the Service's are).
func CreateGuestPasses(ctx context.Context, st *store.Store, b GuestBatch, actor string, now time.Time) (GuestPasses, error) {
	if b.Count < 1 || b.Count > MaxGuestBatch {
		return GuestPasses{}, fmt.Errorf("guest passes: count %d is out of range (1 to %d)", b.Count, MaxGuestBatch)
	}
	if b.Minutes < 0 || b.Minutes > 24*60 {
		return GuestPasses{}, fmt.Errorf("guest passes: %d minutes is out of range (0 for a day, up to 1440)", b.Minutes)
	}
	if err := protocol.ValidBranch(b.Branch); err != nil {
		return GuestPasses{}, err
	}
	out := GuestPasses{Batch: "b-" + randomHex(6), Minutes: b.Minutes, Expires: endOfDay(now).UTC()}
	hashes := make([][32]byte, b.Count)
	for i := range hashes {
		c := NewGuestCode()
		out.Codes = append(out.Codes, c)
		hashes[i] = sha256.Sum256([]byte(NormalizeCode(c)))
	}
	if err := st.CreateGuestPasses(ctx, out.Batch, b.Branch, hashes, b.Minutes, out.Expires, actor); err != nil {
		return GuestPasses{}, err
	}
	return out, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
