package hubrig

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/staffapi"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// Options tune Start; the zero value is a hub with the rig's defaults.
type Options struct {
	// Hub, if set, adjusts the hub's configuration before it starts.
	Hub func(*hub.Config)
	// Log receives the hub's and the terminals' logs; nil discards them.
	Log *slog.Logger
}

// Wait is how long the rig waits for the hub or a terminal before it fails
// the test.
const Wait = 30 * time.Second

// Rig is a running hub and the terminals added to it.
type Rig struct {
	t    testing.TB
	hub  *hub.Hub
	dir  string // the terminals' state directories are under dir/terminals
	log  *slog.Logger
	stop context.CancelFunc
	done chan error // Run's result, once

	stopOnce sync.Once
	mu       sync.Mutex // guards terms
	terms    []*Terminal
}

// Start runs a hub on 127.0.0.1 with a data directory under t.TempDir(). It
// stops (terminals first) when t ends, or earlier with Stop.
func Start(t testing.TB, opt Options) *Rig {
	t.Helper()
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := t.TempDir()
	cfg := hub.Config{DataDir: filepath.Join(dir, "hub"), Listen: "127.0.0.1:0", NoControlSocket: true, Version: "hubrig",
		EnrollPerMinute: 1e6, EnrollBurst: 1 << 20,
		// Many logins, and cheap password hashes: argon2id at its real cost is
		// staffapi's own test, and slow under -race.
		Staff: staffapi.Config{LoginPerMinute: 6000, LoginBurst: 1000, Argon: staffapi.ArgonParams{Memory: 64, Time: 1, Threads: 1}}}
	if opt.Hub != nil {
		opt.Hub(&cfg)
	}
	h, err := hub.New(cfg, log)
	if err != nil {
		t.Fatalf("hubrig: start hub: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Rig{t: t, hub: h, dir: dir, log: log, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- h.Run(ctx) }()
	t.Cleanup(r.Stop)
	return r
}

// Hub is the hub itself (its store, CA, address).
func (r *Rig) Hub() *hub.Hub { return r.hub }

// DataDir is the hub's data directory (CA, keys, hub.db).
func (r *Rig) DataDir() string { return filepath.Join(r.dir, "hub") }

// URL is the base URL consoles use: https://127.0.0.1:PORT.
func (r *Rig) URL() string { return "https://" + r.hub.Addr().String() }

// AgentURL is the URL agents dial: wss://127.0.0.1:PORT.
func (r *Rig) AgentURL() string { return "wss://" + r.hub.Addr().String() }

// Fingerprint is the hub's CA fingerprint, the one consoles and agents pin.
func (r *Rig) Fingerprint() string { return r.hub.Fingerprint() }

// SetupCode is the hub's waiting one-time setup code ("" once an account exists).
func (r *Rig) SetupCode() string { return r.hub.SetupCode() }

// Stop stops every terminal, then the hub, and waits for both. It is
// idempotent and runs at the end of the test anyway.
func (r *Rig) Stop() {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		terms := r.terms
		r.mu.Unlock()
		for _, x := range terms {
			x.shutdown()
		}
		r.stop()
		select {
		case err := <-r.done:
			if err != nil {
				r.t.Errorf("hubrig: hub stopped with %v", err)
			}
		case <-time.After(Wait):
			r.t.Errorf("hubrig: hub did not stop within %v", Wait)
		}
	})
}

// Token makes an enrollment token for uses enrollments, straight in the hub's
// store (as `carrel-hub token` does).
func (r *Rig) Token(t testing.TB, uses int) string {
	t.Helper()
	tok, hash, err := pki.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := r.hub.Store().CreateToken(ctx, hash, uses, time.Now().Add(time.Hour), "hubrig"); err != nil {
		t.Fatalf("hubrig: create token: %v", err)
	}
	return tok
}

// EventID waits until the hub has stored event seq of terminal and returns
// the event's hub-wide ID (what consoles see as EventView.ID).
func (r *Rig) EventID(t testing.TB, terminal string, seq uint64) int64 {
	t.Helper()
	var id int64
	testbin.WaitFor(t, Wait, fmt.Sprintf("event %d of %s in the hub's store", seq, terminal), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), Wait)
		defer cancel()
		evs, err := r.hub.Store().EventsAfter(ctx, 0, terminal, 100000)
		if err != nil {
			t.Fatalf("hubrig: list events: %v", err)
		}
		for _, e := range evs {
			if e.Seq == seq {
				id = e.ID
				return true
			}
		}
		return false
	})
	return id
}

// StaffClient is what the rig needs of a staff client to make accounts through
// the staff API; console/hubclient.Client has these methods.
type StaffClient interface {
	Setup(context.Context, protocol.SetupRequest) (protocol.SetupResponse, error)
	Login(context.Context, protocol.LoginRequest) (protocol.LoginResponse, error)
	StaffCreate(context.Context, protocol.StaffCreateArgs) (protocol.SetupResponse, error)
}

// Account is a staff account made through the API, with its TOTP secret.
type Account struct {
	User, Password string
	Role           protocol.Role
	Secret         string

	mu   sync.Mutex // guards last
	last int64      // the last TOTP step handed out by Code
}

// Setup creates the first admin through c with the hub's setup code.
func (r *Rig) Setup(t testing.TB, c StaffClient, user, password string) *Account {
	t.Helper()
	code := r.SetupCode()
	if code == "" {
		t.Fatal("hubrig: the hub offers no setup code (an account exists)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	res, err := c.Setup(ctx, protocol.SetupRequest{SetupCode: code, User: user, Password: password})
	if err != nil {
		t.Fatalf("hubrig: first-run setup of %s: %v", user, err)
	}
	return &Account{User: user, Password: password, Role: protocol.RoleAdmin, Secret: res.TOTPSecret}
}

// AddStaff creates an account through admin, a client logged in as an admin.
func AddStaff(t testing.TB, admin StaffClient, user, password string, role protocol.Role) *Account {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	res, err := admin.StaffCreate(ctx, protocol.StaffCreateArgs{User: user, Password: password, Role: role})
	if err != nil {
		t.Fatalf("hubrig: create staff %s: %v", user, err)
	}
	return &Account{User: user, Password: password, Role: role, Secret: res.TOTPSecret}
}

// Login logs c in as a with a fresh code.
func (a *Account) Login(t testing.TB, c StaffClient) protocol.LoginResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	lr, err := c.Login(ctx, protocol.LoginRequest{User: a.User, Password: a.Password, TOTP: a.Code(t)})
	if err != nil {
		t.Fatalf("hubrig: login %s: %v", a.User, err)
	}
	return lr
}

// Code is a TOTP code for a that Code has not handed out before. The hub
// accepts each 30-second step once per account, and one step of skew either
// way, so Code gives the current step's code, then the next step's, and then
// waits for the clock.
func (a *Account) Code(t testing.TB) string {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now().Unix() / 30
	step := max(now, a.last+1)
	if step > now+1 {
		testbin.WaitFor(t, 70*time.Second, "the next TOTP step", func() bool { return time.Now().Unix()/30+1 >= step })
	}
	code, err := totpCode(a.Secret, step)
	if err != nil {
		t.Fatalf("hubrig: totp code: %v", err)
	}
	a.last = step
	return code
}

func totpCode(secret string, step int64) (string, error) {
	return totp.GenerateCodeCustom(secret, time.Unix(step*30, 0),
		totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// dirFor is the state directory of a terminal named name.
func (r *Rig) dirFor(name string) (string, error) {
	d := filepath.Join(r.dir, "terminals", name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", err
	}
	return d, nil
}
