package loadgen

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/pki"
)

// startHub runs a real hub in this process on loopback, with the enrollment rate
// limit lifted, until the test ends.
func startHub(t *testing.T) *hub.Hub {
	t.Helper()
	data := t.TempDir()
	if err := os.Chmod(data, 0o700); err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(hub.Config{DataDir: data, Listen: "127.0.0.1:0", EnrollPerMinute: 1e6, EnrollBurst: 1 << 20},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub run: %v", err)
		}
	})
	return h
}

// TestFleetAgainstHub runs 20 simulated agents (real link, real outbox, own
// enrolled identity each) against an in-process hub: all connect, every event
// emitted is stored exactly once, staff pings are answered and statuses reach the
// store; a second enrollment reuses the identities.
func TestFleetAgainstHub(t *testing.T) {
	const n = 20
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := startHub(t)
	dataDir := h.Store().Path()[:len(h.Store().Path())-len("/"+hub.DBFile)]
	url := "wss://" + h.Addr().String()
	tok, hash, err := pki.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Store().CreateToken(ctx, hash, n, time.Now().Add(time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	opt := EnrollOptions{HubURL: url, Token: tok, Fingerprint: h.Fingerprint(), N: n, Dir: dir}
	enrolled, existing, err := Enroll(ctx, opt)
	if err != nil || enrolled != n || existing != 0 {
		t.Fatalf("enroll: %d new, %d existing, %v; want %d new", enrolled, existing, err, n)
	}
	// The token is used up: a second pass must find every identity on disk.
	enrolled, existing, err = Enroll(ctx, opt)
	if err != nil || enrolled != 0 || existing != n {
		t.Fatalf("enroll again: %d new, %d existing, %v; want %d existing", enrolled, existing, err, n)
	}

	var out bytes.Buffer
	res, err := Run(ctx, RunOptions{
		Fleet: FleetOptions{Dir: dir, N: n, HubURL: url, StatusInterval: 300 * time.Millisecond,
			EventRate: 50, Probes: 4},
		HubData: dataDir, HubPID: os.Getpid(), Duration: 3 * time.Second,
		ReportEvery: time.Second, CommandEvery: 100 * time.Millisecond, Out: &out,
	})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + res.String())
	if got := h.OnlineCount(); got != 0 {
		t.Errorf("hub still counts %d agents online after the fleet stopped", got)
	}
	if res.Account.Emitted < 50 || !res.Account.OK() {
		t.Errorf("accounting: %v", res.Account)
	}
	if res.Account.Terminals < 5 {
		t.Errorf("events came from only %d terminals", res.Account.Terminals)
	}
	if res.Command.N < 5 || res.CommandErrs != 0 {
		t.Errorf("staff pings: %v, %d errors", res.Command, res.CommandErrs)
	}
	if res.Status.N < 4 {
		t.Errorf("status probes: %v", res.Status)
	}

	// The accounting can fail: claim one more event than was emitted.
	tampered := map[string][2]uint64{}
	for id, r := range res.Ranges {
		tampered[id] = r
	}
	for id, r := range tampered {
		tampered[id] = [2]uint64{r[0], r[1] + 1}
		break
	}
	acc, err := Account(ctx, h.Store().Path(), tampered)
	if err != nil {
		t.Fatal(err)
	}
	if acc.OK() || acc.Missing != 1 {
		t.Errorf("an event never emitted was not reported missing: %v", acc)
	}

	// An epoch reset (the hub believing the agent's numbering restarted) hides a
	// terminal's stored events from its current view: reported apart, not as lost.
	var id string
	var r [2]uint64
	for id, r = range res.Ranges {
		break
	}
	if _, _, reset, err := h.Store().Connect(ctx, id, "", 1); err != nil || !reset {
		t.Fatalf("forcing an epoch reset: reset %v, %v", reset, err)
	}
	acc, err = Account(ctx, h.Store().Path(), res.Ranges)
	if err != nil {
		t.Fatal(err)
	}
	if acc.OK() || acc.Missing != 0 || acc.OldEpoch != r[1]-r[0]+1 || acc.EpochResets != 1 {
		t.Errorf("after an epoch reset of %s (%d events): %v", id, r[1]-r[0]+1, acc)
	}
}

// TestBurst writes downloads as browsers do: partial name, then the final one.
func TestBurst(t *testing.T) {
	dir := t.TempDir()
	n, err := Burst(context.Background(), BurstOptions{Dir: dir, Files: 4, Size: 100 << 10})
	if err != nil || n != 4 {
		t.Fatalf("burst: %d, %v", n, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var exe int
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name())
		if err != nil || len(b) != 100<<10 {
			t.Fatalf("%s: %d bytes, %v", e.Name(), len(b), err)
		}
		if string(b[:2]) == "MZ" {
			exe++
		}
	}
	if len(ents) != 4 || exe != 2 {
		t.Errorf("got %d files (%d executables), want 4 (2)", len(ents), exe)
	}
}
