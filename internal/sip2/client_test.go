package sip2_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/backoff"
	"github.com/carrel-kiosk/carrel/internal/sip2"
	"github.com/carrel-kiosk/carrel/internal/testrig/sip2emu"
)

// The card and PIN the leak checks look for: distinctive enough that a hit
// is no coincidence.
const (
	secretCard = "29384756102938"
	secretPIN  = "8472q"
)

func patrons() []sip2emu.Patron {
	return []sip2emu.Patron{
		{Card: secretCard, PIN: secretPIN, Name: "Jane Doe"},
		{Card: "1001", PIN: "pé1", Name: "Renée Lévesque"}, // a PIN outside ASCII
		{Card: "2002", PIN: "2002", Name: "Charge Denied", ChargeDenied: true},
		{Card: "3003", PIN: "3003", Name: "Big Fines", ExcessiveFines: true, Fines: "45.00", FeeLimit: "10.00"},
		{Card: "4004", PIN: "4004", Name: "Old Card", Expires: "20200101"},
		{Card: "5005", PIN: "5005", Name: "Lost Card", CardLost: true},
	}
}

// syncBuffer is a log sink safe for the client's goroutines.
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

type rig struct {
	t    *testing.T
	emu  *sip2emu.Server
	opts sip2emu.Options
	cli  *sip2.Client
	log  *syncBuffer
	errs []error // every error the client returned, for the leak check
}

func emuOptions(q sip2emu.Quirks) sip2emu.Options {
	return sip2emu.Options{Quirks: q, User: "hub", Password: "hub-secret", Institution: "lib", Patrons: patrons()}
}

func startEmu(t *testing.T, o sip2emu.Options) *sip2emu.Server {
	t.Helper()
	s, err := sip2emu.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newRig starts an emulator with the quirks of profile and a client with
// the profile; mod adjusts the client's config.
func newRig(t *testing.T, profile string, mod func(*sip2.Config)) *rig {
	t.Helper()
	r := &rig{t: t, opts: emuOptions(sip2emu.QuirksFor(profile)), log: &syncBuffer{}}
	r.emu = startEmu(t, r.opts)
	p, err := sip2.ProfileByName(profile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := sip2.Config{Addr: r.emu.Addr(), Profile: p, User: "hub", Password: "hub-secret",
		Institution: "lib", Timeout: 2 * time.Second,
		Backoff: backoff.Backoff{Min: 5 * time.Millisecond, Max: 50 * time.Millisecond},
		Log:     slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if mod != nil {
		mod(&cfg)
	}
	r.cli, err = sip2.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.cli.Close()
		r.checkNoLeak()
	})
	return r
}

func (r *rig) auth(card, pin string) (sip2.Patron, error) {
	p, err := r.cli.Authenticate(context.Background(), card, pin)
	if err != nil {
		r.errs = append(r.errs, err)
	}
	return p, err
}

// checkNoLeak: the secret card and PIN are in no error and no log line.
func (r *rig) checkNoLeak() {
	for _, err := range r.errs {
		if s := err.Error(); strings.Contains(s, secretCard) || strings.Contains(s, secretPIN) {
			r.t.Errorf("an error carries the card or PIN: %q", s)
		}
	}
	if s := r.log.String(); strings.Contains(s, secretCard) || strings.Contains(s, secretPIN) {
		r.t.Errorf("the log carries the card or PIN:\n%s", s)
	}
}

func TestProfilesAgainstEmulator(t *testing.T) {
	for _, name := range sip2.ProfileNames() {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, name, nil)
			p, _ := sip2.ProfileByName(name)
			cases := []struct {
				card, pin string
				want      sip2.Outcome
				reason    sip2.Block
			}{
				{secretCard, secretPIN, sip2.OutcomeOK, 0},
				{"1001", "pé1", sip2.OutcomeOK, 0},
				{"9999", "9999", sip2.OutcomeUnknownCard, 0},
				{secretCard, "wrong", sip2.OutcomePINWrong, 0},
				{"2002", "2002", sip2.OutcomeBlocked, sip2.BlockChargeDenied},
				{"3003", "3003", sip2.OutcomeBlocked, sip2.BlockExcessiveFines | sip2.BlockFeeLimit},
				{"5005", "5005", sip2.OutcomeBlocked, sip2.BlockCardLost},
				{"2002", "nope", sip2.OutcomePINWrong, 0},
			}
			if p.ExpiryField != "" {
				cases = append(cases, struct {
					card, pin string
					want      sip2.Outcome
					reason    sip2.Block
				}{"4004", "4004", sip2.OutcomeBlocked, sip2.BlockCardExpired})
			}
			for _, c := range cases {
				got, err := r.auth(c.card, c.pin)
				if err != nil {
					t.Fatalf("card %s: %v", c.card, err)
				}
				if got.Outcome != c.want || got.Reason != c.reason {
					t.Errorf("card %s: %v (%v), want %v (%v)", c.card, got.Outcome, got.Reason, c.want, c.reason)
				}
			}
			if st := r.emu.Stats(); st.Logins != 1 || st.Connections != 1 || st.BadRequests != 0 {
				t.Errorf("sequential lookups: %+v, want one connection, one login, no bad request", st)
			}
		})
	}
}

// A client whose profile's terminator is not the ILS's gets no answer and
// says so within its timeout: the profile matters.
func TestWrongTerminatorAnswersWithinTimeout(t *testing.T) {
	emu := startEmu(t, emuOptions(sip2emu.QuirksFor(sip2.ProfileSierra)))
	p, _ := sip2.ProfileByName(sip2.ProfileGeneric)
	p.RequireChecksum = true
	cli, err := sip2.New(sip2.Config{Addr: emu.Addr(), Profile: p, User: "hub", Password: "hub-secret", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	start := time.Now()
	_, err = cli.Authenticate(context.Background(), "1001", "pé1")
	if !errors.Is(err, sip2.ErrUnavailable) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want a timeout matching ErrUnavailable", err)
	}
	if d := time.Since(start); d > 300*time.Millisecond+time.Second {
		t.Fatalf("answered after %v, timeout 300ms", d)
	}
}

// The bad-input list, each against the emulator over real TCP.
func TestBadReplies(t *testing.T) {
	cases := []struct {
		name     string
		fault    sip2emu.Fault
		want     error // nil: the lookup succeeds anyway
		requests int   // patron requests the emulator saw
		resends  int
	}{
		{"bad checksum once, resent on a 97", sip2emu.Fault{Kind: sip2emu.FaultBadChecksum, Times: 1}, nil, 1, 1},
		{"bad checksum always", sip2emu.Fault{Kind: sip2emu.FaultBadChecksum}, sip2.ErrChecksum, 1, 1},
		{"missing field", sip2emu.Fault{Kind: sip2emu.FaultMissingField}, sip2.ErrMissingField, 1, 0},
		{"unknown field", sip2emu.Fault{Kind: sip2emu.FaultUnknownField}, nil, 1, 0},
		{"64 KB of garbage", sip2emu.Fault{Kind: sip2emu.FaultGarbage}, sip2.ErrTooLong, 1, 0},
		{"no reply", sip2emu.Fault{Kind: sip2emu.FaultNoReply}, os.ErrDeadlineExceeded, 1, 0},
		{"dropped mid-reply once, retried", sip2emu.Fault{Kind: sip2emu.FaultDrop, Times: 1}, nil, 2, 0},
		{"dropped mid-reply always", sip2emu.Fault{Kind: sip2emu.FaultDrop}, errDropped, 2, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const timeout = time.Second
			r := newRig(t, sip2.ProfileGeneric, func(cfg *sip2.Config) { cfg.Timeout = timeout })
			r.emu.SetFault(c.fault)
			start := time.Now()
			p, err := r.auth(secretCard, secretPIN)
			took := time.Since(start)
			switch {
			case c.want == nil && (err != nil || p.Outcome != sip2.OutcomeOK):
				t.Fatalf("got %+v, %v; want ok", p, err)
			case c.want == errDropped && !(errors.Is(err, sip2.ErrUnavailable) && isDrop(err)):
				t.Fatalf("err = %v, want a dropped connection", err)
			case c.want != nil && c.want != errDropped && !(errors.Is(err, sip2.ErrUnavailable) && errors.Is(err, c.want)):
				t.Fatalf("err = %v, want %v matching ErrUnavailable", err, c.want)
			}
			if took > timeout+time.Second {
				t.Fatalf("answered after %v, timeout %v", took, timeout)
			}
			if c.fault.Kind == sip2emu.FaultNoReply && took < timeout-50*time.Millisecond {
				t.Fatalf("no reply answered after %v, before the timeout %v", took, timeout)
			}
			st := r.emu.Stats()
			if st.PatronRequests != c.requests || st.Resends != c.resends {
				t.Fatalf("emulator saw %+v, want %d patron requests and %d resends", st, c.requests, c.resends)
			}
			// After the fault clears, the pool serves again on a new connection.
			r.emu.SetFault(sip2emu.Fault{})
			waitFor(t, 5*time.Second, func() bool {
				p, err := r.auth(secretCard, secretPIN)
				return err == nil && p.Outcome == sip2.OutcomeOK
			})
		})
	}
}

var errDropped = errors.New("connection dropped")

func isDrop(err error) bool {
	s := err.Error()
	return strings.Contains(s, "EOF") || strings.Contains(s, "reset") || strings.Contains(s, "broken pipe")
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPoolReconnectsAfterRestart(t *testing.T) {
	r := newRig(t, sip2.ProfileKoha, nil)
	if p, err := r.auth(secretCard, secretPIN); err != nil || p.Outcome != sip2.OutcomeOK {
		t.Fatalf("before the restart: %+v, %v", p, err)
	}
	addr := r.emu.Addr()
	r.emu.Close()
	// Down: an answer within the timeout, and it says unavailable.
	start := time.Now()
	if _, err := r.auth(secretCard, secretPIN); !errors.Is(err, sip2.ErrUnavailable) {
		t.Fatalf("ILS down: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second+time.Second {
		t.Fatalf("ILS down answered after %v", d)
	}
	o := r.opts
	o.Addr = addr
	emu2 := startEmu(t, o)
	waitFor(t, 5*time.Second, func() bool {
		p, err := r.auth(secretCard, secretPIN)
		return err == nil && p.Outcome == sip2.OutcomeOK
	})
	if st := emu2.Stats(); st.Logins < 1 {
		t.Fatalf("reconnected without logging in: %+v", st)
	}
	if !strings.Contains(r.log.String(), "SIP2 connection restored") {
		t.Errorf("no restored line in the log:\n%s", r.log.String())
	}
}

func TestPoolSizeBoundsConnections(t *testing.T) {
	r := newRig(t, sip2.ProfileGeneric, func(cfg *sip2.Config) { cfg.PoolSize = 2 })
	r.emu.SetDelay(20 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := r.cli.Authenticate(context.Background(), secretCard, secretPIN)
			if err == nil && p.Outcome != sip2.OutcomeOK {
				err = errors.New(p.Outcome.String())
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := r.emu.Stats(); st.Connections != 2 || st.PatronRequests != 12 {
		t.Fatalf("12 concurrent lookups, pool of 2: %+v", st)
	}
}

func TestLoginRefusedThenBackoff(t *testing.T) {
	r := newRig(t, sip2.ProfileGeneric, func(cfg *sip2.Config) {
		cfg.Password = "not-it"
		cfg.Backoff = backoff.Backoff{Min: time.Hour, Max: time.Hour, Rand: func(n int64) int64 { return n - 1 }}
	})
	_, err := r.auth(secretCard, secretPIN)
	if !errors.Is(err, sip2.ErrLoginRefused) || !errors.Is(err, sip2.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrLoginRefused", err)
	}
	// The next try does not dial: the backoff is running.
	_, err = r.auth(secretCard, secretPIN)
	if !errors.Is(err, sip2.ErrDown) {
		t.Fatalf("second try: %v, want ErrDown", err)
	}
	if st := r.emu.Stats(); st.Connections != 1 {
		t.Fatalf("dialled %d times", st.Connections)
	}
	if n := strings.Count(r.log.String(), "SIP2 connection failed"); n != 1 {
		t.Fatalf("%d connection-failed lines, want 1:\n%s", n, r.log.String())
	}
}

func TestOffline(t *testing.T) {
	r := newRig(t, sip2.ProfileGeneric, nil)
	r.emu.SetFault(sip2emu.Fault{Kind: sip2emu.FaultOffline})
	if _, err := r.auth(secretCard, secretPIN); !errors.Is(err, sip2.ErrOffline) {
		t.Fatalf("err = %v, want ErrOffline", err)
	}
	if err := r.cli.Status(context.Background()); !errors.Is(err, sip2.ErrUnavailable) {
		t.Fatalf("Status = %v", err)
	}
	r.emu.SetFault(sip2emu.Fault{})
	waitFor(t, 5*time.Second, func() bool { return r.cli.Status(context.Background()) == nil })
}

func TestCancelAndClose(t *testing.T) {
	r := newRig(t, sip2.ProfileGeneric, func(cfg *sip2.Config) { cfg.Timeout = time.Minute })
	r.emu.SetFault(sip2emu.Fault{Kind: sip2emu.FaultNoReply})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.cli.Authenticate(ctx, secretCard, secretPIN)
		done <- err
	}()
	waitFor(t, 5*time.Second, func() bool { return r.emu.Stats().PatronRequests == 1 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || errors.Is(err, sip2.ErrUnavailable) {
			t.Fatalf("cancelled: %v, want context.Canceled and not ErrUnavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Authenticate did not return after cancel")
	}

	go func() {
		_, err := r.cli.Authenticate(context.Background(), secretCard, secretPIN)
		done <- err
	}()
	waitFor(t, 5*time.Second, func() bool { return r.emu.Stats().PatronRequests == 2 })
	r.cli.Close()
	select {
	case err := <-done:
		if !errors.Is(err, sip2.ErrUnavailable) {
			t.Fatalf("after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Authenticate did not return after Close")
	}
	if _, err := r.auth(secretCard, secretPIN); !errors.Is(err, sip2.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

// selfSigned makes a certificate for 127.0.0.1, valid for an hour.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sip2emu"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestTLS(t *testing.T) {
	cert, roots := selfSigned(t)
	o := emuOptions(sip2emu.QuirksFor(sip2.ProfileEvergreen))
	o.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	emu := startEmu(t, o)
	p, _ := sip2.ProfileByName(sip2.ProfileEvergreen)
	log := &syncBuffer{}
	cfg := sip2.Config{Addr: emu.Addr(), Profile: p, User: "hub", Password: "hub-secret", Institution: "lib",
		TLS: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, Timeout: 2 * time.Second,
		Log: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	cli, err := sip2.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	pt, err := cli.Authenticate(context.Background(), secretCard, secretPIN)
	if err != nil || pt.Outcome != sip2.OutcomeOK {
		t.Fatalf("over TLS: %+v, %v", pt, err)
	}
	pt, err = cli.Authenticate(context.Background(), "4004", "4004")
	if err != nil || pt.Outcome != sip2.OutcomeBlocked || pt.Reason != sip2.BlockCardExpired {
		t.Fatalf("expired over TLS: %+v, %v", pt, err)
	}

	// A client that does not trust the certificate gets no answer from it.
	cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	untrusting, _ := sip2.New(cfg)
	defer untrusting.Close()
	_, err = untrusting.Authenticate(context.Background(), secretCard, secretPIN)
	var unknownAuthority x509.UnknownAuthorityError
	if !errors.Is(err, sip2.ErrUnavailable) || !errors.As(err, &unknownAuthority) {
		t.Fatalf("untrusted certificate: %v", err)
	}
	if strings.Contains(err.Error(), secretCard) || strings.Contains(log.String(), secretCard) || strings.Contains(log.String(), secretPIN) {
		t.Fatal("card or PIN leaked")
	}
}

// After a quick ILS restart every pooled connection is dead; the first
// lookup still succeeds: the drop is retried once, on a new connection.
func TestStaleConnectionsAfterQuickRestart(t *testing.T) {
	r := newRig(t, sip2.ProfileGeneric, nil)
	r.emu.SetDelay(20 * time.Millisecond)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.cli.Authenticate(context.Background(), secretCard, secretPIN)
		}()
	}
	wg.Wait()
	if st := r.emu.Stats(); st.Connections != 2 {
		t.Fatalf("want two pooled connections: %+v", st)
	}
	addr := r.emu.Addr()
	r.emu.Close()
	o := r.opts
	o.Addr = addr
	emu2 := startEmu(t, o)
	p, err := r.auth(secretCard, secretPIN)
	if err != nil || p.Outcome != sip2.OutcomeOK {
		t.Fatalf("first lookup after the restart: %+v, %v", p, err)
	}
	if st := emu2.Stats(); st.Connections != 1 || st.PatronRequests != 1 {
		t.Fatalf("restarted emulator saw %+v", st)
	}
}

// A card or PIN that SIP2 cannot carry is answered without asking the ILS.
func TestUnsendableInput(t *testing.T) {
	r := newRig(t, sip2.ProfileSirsiDynix, nil) // Latin-1
	for _, c := range []struct {
		card, pin string
		want      sip2.Outcome
	}{
		{"", "1", sip2.OutcomeUnknownCard},
		{"10|01", "1", sip2.OutcomeUnknownCard},
		{"1001\r", "1", sip2.OutcomeUnknownCard},
		{"1001", "p€1", sip2.OutcomePINWrong},
		{"1001", "p|1", sip2.OutcomePINWrong},
	} {
		p, err := r.auth(c.card, c.pin)
		if err != nil || p.Outcome != c.want {
			t.Errorf("%q/%q: %+v, %v; want %v", c.card, c.pin, p, err, c.want)
		}
	}
	if st := r.emu.Stats(); st.Connections != 0 {
		t.Fatalf("the ILS was asked: %+v", st)
	}
}

// Neither the client nor the emulator leaves a goroutine behind.
func TestNoGoroutineLeft(t *testing.T) {
	base := runtime.NumGoroutine()
	emu, err := sip2emu.Start(emuOptions(sip2emu.QuirksFor(sip2.ProfileGeneric)))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := sip2.New(sip2.Config{Addr: emu.Addr(), User: "hub", Password: "hub-secret", Institution: "lib", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cli.Authenticate(context.Background(), secretCard, secretPIN)
		}()
	}
	wg.Wait()
	emu.SetFault(sip2emu.Fault{Kind: sip2emu.FaultNoReply})
	cli.Authenticate(context.Background(), secretCard, secretPIN)
	cli.Close()
	emu.Close()
	waitFor(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= base })
}
