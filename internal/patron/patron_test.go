package patron_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/backoff"
	"github.com/carrel-kiosk/carrel/internal/patron"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/sip2"
	"github.com/carrel-kiosk/carrel/internal/store"
	"github.com/carrel-kiosk/carrel/internal/testrig/sip2emu"
)

// The card and PIN the leak checks look for.
const (
	secretCard = "29384756102938"
	secretPIN  = "8472q"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

type rig struct {
	t     *testing.T
	emu   *sip2emu.Server
	ils   *sip2.Client
	st    *store.Store
	db    string
	svc   *patron.Service
	key   ed25519.PrivateKey
	clock *clock
	log   *syncBuffer
	cfg   patron.Config

	mu     sync.Mutex
	counts map[string]int64
}

// sipTimeout is the tests' SIP2 timeout: short, so that the deadline tests
// are quick; the default is 5 s.
const sipTimeout = 700 * time.Millisecond

func newRig(t *testing.T) *rig {
	t.Helper()
	emu, err := sip2emu.Start(sip2emu.Options{Quirks: sip2emu.QuirksFor("generic"), User: "hub", Password: "pw", Institution: "lib",
		Patrons: []sip2emu.Patron{
			{Card: secretCard, PIN: secretPIN, Name: "Jane Doe"},
			{Card: "1111", PIN: "1111", Name: "Other Card"},
			{Card: "2002", PIN: "2002", Name: "Charge Denied", ChargeDenied: true},
			{Card: "3003", PIN: "3003", Name: "Big Fines", ExcessiveFines: true},
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	r := &rig{t: t, emu: emu, log: &syncBuffer{}, counts: map[string]int64{}}
	log := slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.ils, err = sip2.New(sip2.Config{Addr: emu.Addr(), User: "hub", Password: "pw", Institution: "lib", Timeout: sipTimeout,
		Backoff: backoff.Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.ils.Close() })
	r.db = filepath.Join(t.TempDir(), "hub.db")
	r.openStore()
	_, r.key, _ = ed25519.GenerateKey(nil)
	loc := time.FixedZone("library", 3600)
	r.clock = &clock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, loc)}
	r.cfg = patron.Config{Store: r.st, ILS: r.ils, ILSAddr: emu.Addr(), ILSProfile: "generic", Key: r.key, Location: loc, Now: r.clock.Now,
		Timeout: sipTimeout + time.Second, Log: log, Count: r.count}
	r.newService()
	t.Cleanup(func() {
		r.checkNoLeak()
		r.st.Close()
	})
	return r
}

func (r *rig) openStore() {
	st, err := store.Open(r.db)
	if err != nil {
		r.t.Fatal(err)
	}
	r.st = st
}

func (r *rig) newService() {
	r.cfg.Store = r.st
	svc, err := patron.New(r.cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.svc = svc
}

func (r *rig) count(m protocol.Metric, label, terminal string, n int64) {
	r.mu.Lock()
	r.counts[string(m)+"/"+label] += n
	r.mu.Unlock()
}

func (r *rig) counted(m protocol.Metric, label string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[string(m)+"/"+label]
}

func (r *rig) card(terminal, card, pin string) protocol.SignInAnswer {
	return r.svc.SignIn(context.Background(), terminal, "", protocol.SignIn{ID: "s1", Card: card, PIN: pin})
}

func (r *rig) setRules(branch string, rules protocol.Rules) {
	if err := r.svc.SetRules(context.Background(), branch, &rules, "admin"); err != nil {
		r.t.Fatal(err)
	}
}

// checkNoLeak: the card and PIN are in no log line, no audit row, no byte of
// the database.
func (r *rig) checkNoLeak() {
	if s := r.log.String(); strings.Contains(s, secretCard) || strings.Contains(s, secretPIN) {
		r.t.Errorf("the log carries the card or PIN:\n%s", s)
	}
	recs, err := r.st.AuditLog(context.Background(), 0, 1000)
	if err != nil {
		r.t.Error(err)
	}
	for _, a := range recs {
		if row := a.Target + a.Detail; strings.Contains(row, secretCard) || strings.Contains(row, secretPIN) {
			r.t.Errorf("an audit row carries the card or PIN: %+v", a)
		}
	}
	r.st.Checkpoint(context.Background())
	for _, f := range []string{r.db, r.db + "-wal"} {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte(secretCard)) || bytes.Contains(b, []byte(secretPIN)) {
			r.t.Errorf("%s holds the card or PIN", filepath.Base(f))
		}
	}
}

func refusal(t *testing.T, a protocol.SignInAnswer, want protocol.Refusal) {
	t.Helper()
	if a.Refusal != want {
		t.Fatalf("answer = %+v (grant %v), want refusal %q", a, a.Grant, want)
	}
	if err := a.Validate(); err != nil {
		t.Fatalf("answer does not validate: %v", err)
	}
}

func granted(t *testing.T, r *rig, a protocol.SignInAnswer) *protocol.Grant {
	t.Helper()
	if a.Grant == nil {
		t.Fatalf("answer = %+v, want a grant", a)
	}
	if err := a.Validate(); err != nil {
		t.Fatalf("answer does not validate: %v", err)
	}
	if err := protocol.VerifyGrant(*a.Grant, r.key.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	return a.Grant
}

func TestCardSignInGrantsAndRefuses(t *testing.T) {
	r := newRig(t)
	g := granted(t, r, r.card("pc1", secretCard, secretPIN))
	if g.Kind != protocol.PatronCard || !strings.HasPrefix(g.Patron, "card-") || strings.Contains(g.Patron, secretCard) {
		t.Errorf("grant kind %q patron %q", g.Kind, g.Patron)
	}
	// Default rules: a 60-minute session, warnings 10, 5, 1.
	if g.Seconds != 3600 || g.EndsBy != "session" || len(g.Warnings) != 3 || g.Warnings[0] != 10 {
		t.Errorf("grant = %+v, want 3600 s by session with warnings 10,5,1", g)
	}
	for _, c := range []struct {
		card, pin string
		want      protocol.Refusal
	}{
		{"9999", "9999", protocol.RefuseCardUnknown},
		{"1111", "wrong", protocol.RefusePIN},
		{"2002", "2002", protocol.RefuseBlocked},
		{"3003", "3003", protocol.RefuseFines},
	} {
		refusal(t, r.card("pc2", c.card, c.pin), c.want)
	}
	if n := r.counted(protocol.MetricSignIns, "card"); n != 1 {
		t.Errorf("sign-ins counted %d, want 1", n)
	}
	if n := r.counted(protocol.MetricSignInRefused, string(protocol.RefuseFines)); n != 1 {
		t.Errorf("fines refusals counted %d, want 1", n)
	}
	if l := r.svc.ILS(); l.State != protocol.ILSUp {
		t.Errorf("ILS link = %+v, want up", l)
	}
}

// Each bad answer of the ILS is a clear refusal within the deadline.
func TestILSFaultsRefuseWithinDeadline(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault sip2emu.FaultKind
		want  protocol.Refusal // "" for a grant
	}{
		{"bad checksum", sip2emu.FaultBadChecksum, protocol.RefuseILSDown},
		{"missing field", sip2emu.FaultMissingField, protocol.RefuseILSDown},
		{"unknown field", sip2emu.FaultUnknownField, ""},
		{"64 KB of garbage", sip2emu.FaultGarbage, protocol.RefuseILSDown},
		{"no reply", sip2emu.FaultNoReply, protocol.RefuseILSDown},
		{"dropped mid-reply", sip2emu.FaultDrop, protocol.RefuseILSDown},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			r.emu.SetFault(sip2emu.Fault{Kind: c.fault})
			start := time.Now()
			a := r.card("pc1", secretCard, secretPIN)
			took := time.Since(start)
			if took > sipTimeout+500*time.Millisecond {
				t.Errorf("answered after %v, past the %v SIP2 timeout", took, sipTimeout)
			}
			if c.want == "" {
				granted(t, r, a)
				return
			}
			refusal(t, a, c.want)
			l := r.svc.ILS()
			if l.State != protocol.ILSDown || l.LastError == "" {
				t.Errorf("ILS link = %+v, want down with an error", l)
			}
			// The ILS back: the next sign-in works and the link is up.
			r.emu.SetFault(sip2emu.Fault{})
			granted(t, r, r.card("pc1", secretCard, secretPIN))
			if l := r.svc.ILS(); l.State != protocol.ILSUp {
				t.Errorf("ILS link after recovery = %+v", l)
			}
		})
	}
}

func TestNoILSRefusesCardsButNotGuests(t *testing.T) {
	r := newRig(t)
	r.cfg.ILS = nil
	r.newService()
	refusal(t, r.card("pc1", secretCard, secretPIN), protocol.RefuseILSDown)
	if l := r.svc.ILS(); l.State != protocol.ILSNotConfigured {
		t.Errorf("link = %+v", l)
	}
	p, err := r.svc.CreateGuestPasses(context.Background(), patron.GuestBatch{Count: 1, Minutes: 30}, "desk")
	if err != nil {
		t.Fatal(err)
	}
	granted(t, r, r.svc.SignIn(context.Background(), "pc1", "", protocol.SignIn{ID: "g", Guest: p.Codes[0]}))
}

func TestPINLockoutAfterFive(t *testing.T) {
	r := newRig(t)
	for i := 1; i <= 5; i++ {
		refusal(t, r.card("pc1", secretCard, "0000"+string(rune('0'+i))), protocol.RefusePIN)
	}
	before := r.emu.Stats().PatronRequests
	// Held: even the right PIN is refused, without asking the ILS.
	refusal(t, r.card("pc2", secretCard, secretPIN), protocol.RefuseTooManyTries)
	if after := r.emu.Stats().PatronRequests; after != before {
		t.Errorf("a held card was looked up in the ILS (%d → %d requests)", before, after)
	}
	// Another card is not held.
	granted(t, r, r.card("pc3", "1111", "1111"))
	recs, err := r.st.AuditLog(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range recs {
		if a.Action == protocol.AuditPatronLockout {
			n++
			if !strings.HasPrefix(a.Target, "card-") || !strings.Contains(a.Detail, "pc1") {
				t.Errorf("lockout audit row = %+v", a)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d lockout audit rows, want 1", n)
	}
	// After the hold the card signs in again.
	r.clock.Add(16 * time.Minute)
	granted(t, r, r.card("pc2", secretCard, secretPIN))
}

func TestGuestPassReuseAndExpiry(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	p, err := r.svc.CreateGuestPasses(ctx, patron.GuestBatch{Count: 3, Minutes: 30}, "desk")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Codes) != 3 || p.Codes[0] == p.Codes[1] {
		t.Fatalf("codes = %v", p.Codes)
	}
	for _, c := range p.Codes {
		if strings.ContainsAny(c, "0O1IL2Z5S8B") {
			t.Errorf("code %q has an ambiguous character", c)
		}
	}
	guest := func(terminal, code string) protocol.SignInAnswer {
		return r.svc.SignIn(ctx, terminal, "", protocol.SignIn{ID: "g", Guest: code})
	}
	// Typed in lower case without the dash, it still works.
	g := granted(t, r, guest("pc1", strings.ToLower(strings.ReplaceAll(p.Codes[0], "-", ""))))
	if g.Kind != protocol.PatronGuest || g.Patron != "guest" || g.Seconds != 30*60 || g.EndsBy != "guest" {
		t.Errorf("guest grant = %+v", g)
	}
	refusal(t, guest("pc2", "NOPE-NOPE-NOPE"), protocol.RefuseGuestUnknown)
	// Its 30 minutes over, the code is used and refused.
	r.clock.Add(31 * time.Minute)
	refusal(t, guest("pc2", p.Codes[0]), protocol.RefuseGuestExpired)
	// An unused pass expires with its day.
	r.clock.Add(24 * time.Hour)
	refusal(t, guest("pc2", p.Codes[1]), protocol.RefuseGuestExpired)
	if n := r.counted(protocol.MetricGuestPasses, ""); n != 3 {
		t.Errorf("guest passes counted %d", n)
	}
	// Only hashes are stored.
	r.st.Checkpoint(ctx)
	b, _ := os.ReadFile(r.db)
	if bytes.Contains(b, []byte(patron.NormalizeCode(p.Codes[2]))) {
		t.Error("the database holds a guest code")
	}
}

func TestOneCardTwoPCsAtOnce(t *testing.T) {
	r := newRig(t)
	r.emu.SetDelay(50 * time.Millisecond) // both lookups in flight together
	var wg sync.WaitGroup
	answers := make([]protocol.SignInAnswer, 2)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = r.card([]string{"pcA", "pcB"}[i], secretCard, secretPIN)
		}()
	}
	wg.Wait()
	grants, inUse := 0, 0
	for _, a := range answers {
		switch {
		case a.Grant != nil:
			grants++
		case a.Refusal == protocol.RefuseInUse:
			inUse++
		}
	}
	if grants != 1 || inUse != 1 {
		t.Fatalf("answers = %+v, want one grant and one in-use", answers)
	}
}

func TestAllowanceSpansPCs(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.setRules("", protocol.Rules{SessionMinutes: 120, DailyMinutes: 60})
	g := granted(t, r, r.card("pcA", secretCard, secretPIN))
	if g.Seconds != 3600 || g.EndsBy != "allowance" {
		t.Fatalf("first grant = %+v, want 60 min by allowance", g)
	}
	r.clock.Add(45 * time.Minute)
	if err := r.svc.Ended(ctx, "pcA", map[string]string{protocol.DataGrant: g.ID, protocol.DataUsed: "2700", protocol.DataEndReason: protocol.EndPatron}); err != nil {
		t.Fatal(err)
	}
	// Settled once only: a repeated event changes nothing.
	if err := r.svc.Ended(ctx, "pcA", map[string]string{protocol.DataGrant: g.ID, protocol.DataUsed: "2700"}); err != nil {
		t.Fatal(err)
	}
	g2 := granted(t, r, r.card("pcB", secretCard, secretPIN))
	if g2.Seconds != 900 || g2.EndsBy != "allowance" {
		t.Fatalf("grant at the second PC = %d s by %s, want 900 s by allowance", g2.Seconds, g2.EndsBy)
	}
	r.clock.Add(15 * time.Minute)
	if err := r.svc.Ended(ctx, "pcB", map[string]string{protocol.DataGrant: g2.ID, protocol.DataUsed: "900"}); err != nil {
		t.Fatal(err)
	}
	refusal(t, r.card("pcA", secretCard, secretPIN), protocol.RefuseNoTime)
	// The next day, a new key, a fresh allowance; housekeeping deleted
	// yesterday's key and ledger.
	r.clock.Add(24 * time.Hour)
	if err := r.svc.Housekeeping(ctx); err != nil {
		t.Fatal(err)
	}
	g3 := granted(t, r, r.card("pcA", secretCard, secretPIN))
	if g3.Seconds != 3600 {
		t.Errorf("next day's grant = %d s", g3.Seconds)
	}
	if g3.Patron == g.Patron {
		t.Errorf("the pseudonym %q did not change with the day", g.Patron)
	}
}

func TestHubRestartKeepsSession(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	g := granted(t, r, r.card("pcA", secretCard, secretPIN))
	r.st.Close()
	r.openStore()
	r.newService()
	got, err := r.svc.Session(ctx, "pcA")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != g.ID || !got.Ends.Equal(g.Ends) {
		t.Fatalf("after restart: %s ends %v, want %s ends %v", got.ID, got.Ends, g.ID, g.Ends)
	}
	if err := protocol.VerifyGrant(got, r.key.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	// Still running: the card is in use at pcA.
	refusal(t, r.card("pcB", secretCard, secretPIN), protocol.RefuseInUse)
	// Staff add 15 minutes after the restart.
	r.clock.Add(10 * time.Minute)
	ng, err := r.svc.AddTime(ctx, "pcA", "", 15, "desk")
	if err != nil {
		t.Fatal(err)
	}
	if !ng.Ends.Equal(g.Ends.Add(15*time.Minute)) || ng.Seconds != 65*60 || ng.EndsBy != "staff" || ng.ID != g.ID {
		t.Errorf("added time: %+v", ng)
	}
	if err := protocol.VerifyGrant(ng, r.key.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.AddTime(ctx, "pcB", "", 15, "desk"); err != patron.ErrNoSession {
		t.Errorf("add time without a session: %v", err)
	}
}

func TestClosingAndCutoff(t *testing.T) {
	r := newRig(t)
	hours := make([]protocol.DayHours, 7)
	for i := range hours {
		hours[i] = protocol.DayHours{Open: "09:00", Close: "17:00"}
	}
	hours[0] = protocol.DayHours{Closed: true} // Sundays
	r.setRules("", protocol.Rules{SessionMinutes: 60, CutoffMinutes: 10, Hours: hours,
		Exceptions: []protocol.HoursException{{Date: "2026-12-08", DayHours: protocol.DayHours{Closed: true}},
			{Date: "2026-12-09", DayHours: protocol.DayHours{Open: "09:00", Close: "12:00"}}}})
	day := func(d, h, m int) time.Time { return time.Date(2026, 12, d, h, m, 0, 0, r.clock.Now().Location()) }
	for _, c := range []struct {
		at     time.Time
		want   protocol.Refusal
		secs   int64
		endsBy string
	}{
		{day(7, 8, 59), protocol.RefuseClosed, 0, ""},
		{day(7, 16, 30), "", 30 * 60, "closing"},
		{day(7, 16, 51), protocol.RefuseClosed, 0, ""}, // 9 minutes before closing: past the cutoff
		{day(7, 15, 0), "", 60 * 60, "session"},
		{day(8, 10, 0), protocol.RefuseClosed, 0, ""},  // closed by exception
		{day(9, 11, 30), "", 30 * 60, "closing"},       // special hours
		{day(13, 10, 0), protocol.RefuseClosed, 0, ""}, // a Sunday
		{day(14, 17, 0), protocol.RefuseClosed, 0, ""}, // at closing
	} {
		r.clock.Set(c.at)
		a := r.card("pc-"+c.at.Format("0215:04"), "1111", "1111")
		if c.want != "" {
			refusal(t, a, c.want)
			continue
		}
		g := granted(t, r, a)
		if g.Seconds != c.secs || g.EndsBy != c.endsBy {
			t.Errorf("at %v: %d s by %s, want %d s by %s", c.at, g.Seconds, g.EndsBy, c.secs, c.endsBy)
		}
		r.svc.Ended(context.Background(), g.Terminal, map[string]string{protocol.DataGrant: g.ID, protocol.DataUsed: "0"})
	}
	// Staff cannot add time past closing.
	r.clock.Set(day(7, 16, 0))
	granted(t, r, r.card("pcX", "1111", "1111"))
	g, err := r.svc.AddTime(context.Background(), "pcX", "", 120, "desk")
	if err != nil {
		t.Fatal(err)
	}
	if !g.Ends.Equal(day(7, 17, 0)) || g.EndsBy != "closing" {
		t.Errorf("time added past closing: ends %v by %s", g.Ends, g.EndsBy)
	}
}

func TestRulesValidated(t *testing.T) {
	r := newRig(t)
	for _, bad := range []protocol.Rules{
		{SessionMinutes: -1},
		{Hours: make([]protocol.DayHours, 3)},
		{Hours: []protocol.DayHours{{Open: "10:00", Close: "09:00"}, {}, {}, {}, {}, {}, {}}},
		{Exceptions: []protocol.HoursException{{Date: "tomorrow"}}},
		{Warnings: []int{0}},
		{IdleMinutes: 1, IdleWarnSeconds: 60},
	} {
		if err := r.svc.SetRules(context.Background(), "Main", &bad, "admin"); err == nil {
			t.Errorf("rules %+v accepted", bad)
		}
	}
	good := protocol.Rules{SessionMinutes: 30, IdleMinutes: 5}
	r.setRules("Main", good)
	got, err := r.svc.Rules(context.Background(), "Main")
	if err != nil || got.SessionMinutes != 30 {
		t.Fatalf("rules = %+v, %v", got, err)
	}
	// A branch without rules follows the defaults.
	got, _ = r.svc.Rules(context.Background(), "Elsewhere")
	if got.SessionMinutes != protocol.DefaultRules().SessionMinutes {
		t.Errorf("default rules = %+v", got)
	}
	// The idle rule reaches the grant: 5 minutes, warned 60 s before.
	g := granted(t, r, r.svc.SignIn(context.Background(), "pc1", "Main", protocol.SignIn{ID: "x", Card: "1111", PIN: "1111"}))
	if g.IdleEnd != 300 || g.IdleWarn != 60 || g.Seconds != 1800 {
		t.Errorf("grant = %+v", g)
	}
}

func TestParseWeek(t *testing.T) {
	w, err := patron.ParseWeek("mon-fri 09:00-20:00; sat 10:00-16:00")
	if err != nil {
		t.Fatal(err)
	}
	if !w[0].Closed || w[1].Open != "09:00" || w[5].Close != "20:00" || w[6].Open != "10:00" {
		t.Errorf("week = %+v", w)
	}
	back, err := patron.ParseWeek(strings.ReplaceAll(patron.FormatWeek(w), "\n", ";"))
	if err != nil || len(back) != 7 || back[3] != w[3] || back[0] != w[0] {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	if w, err := patron.ParseWeek("always"); err != nil || w != nil {
		t.Errorf("always: %v %v", w, err)
	}
	for _, bad := range []string{"mon 9-5", "funday 09:00-10:00", "mon 09:00-10:00; mon closed", "mon", "mon 25:00-26:00"} {
		if _, err := patron.ParseWeek(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
