package status

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

type fakeSession struct {
	state protocol.SessionState
	since time.Time
}

func (f fakeSession) Session() (protocol.SessionState, time.Time) { return f.state, f.since }

func TestCollect(t *testing.T) {
	started := time.Now().Add(-time.Minute)
	c := New(context.Background(), Options{AgentVersion: "1.0.0", Started: started, Restarts: 3,
		Dropped: func() uint64 { return 7 }})
	s := c.Collect(context.Background())
	if err := s.Validate(); err != nil {
		t.Fatalf("collected status does not validate: %v\n%+v", err, s)
	}
	if s.OS != runtime.GOOS || s.Arch != runtime.GOARCH || s.AgentVersion != "1.0.0" || s.Restarts != 3 || s.OutboxDropped != 7 {
		t.Fatalf("identity fields wrong: %+v", s)
	}
	if !s.AgentStarted.Equal(started) || s.Session != protocol.SessionUnknown {
		t.Fatalf("start or session wrong: %+v", s)
	}
	if s.MemTotal == 0 || s.MemUsed == 0 || s.MemUsed > s.MemTotal {
		t.Fatalf("memory not collected: used %d total %d", s.MemUsed, s.MemTotal)
	}
	if s.DiskTotal == 0 || s.DiskUsed > s.DiskTotal {
		t.Fatalf("disk not collected: used %d total %d", s.DiskUsed, s.DiskTotal)
	}
	if s.BootTime.IsZero() || s.BootTime.After(time.Now()) {
		t.Fatalf("boot time %v", s.BootTime)
	}
	host, _ := os.Hostname()
	if host != "" && s.Hostname != host {
		t.Fatalf("hostname %q, want %q", s.Hostname, host)
	}
}

func TestChanged(t *testing.T) {
	since := time.Now()
	c := New(context.Background(), Options{AgentVersion: "1", Session: fakeSession{protocol.SessionInUse, since}})
	a := c.Collect(context.Background())
	if a.Session != protocol.SessionInUse || !a.SessionSince.Equal(since) {
		t.Fatalf("session source ignored: %+v", a)
	}
	b := a
	b.CPUPercent, b.MemUsed, b.DiskUsed = a.CPUPercent+10, a.MemUsed+1, a.DiskUsed+1
	if Changed(a, b) {
		t.Fatal("gauges alone counted as a change")
	}
	for name, mut := range map[string]func(){
		"locked": func() { c.SetLocked(true) },
		"policy": func() { c.SetPolicyVersion("p2") },
		"wipe":   func() { c.SetLastWipe("clean 400ms") },
		"cert":   func() { c.SetCertExpires(time.Now().Add(time.Hour)) },
	} {
		before := c.Collect(context.Background())
		mut()
		after := c.Collect(context.Background())
		if !Changed(before, after) {
			t.Errorf("%s change not noticed", name)
		}
		if err := after.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCountStart(t *testing.T) {
	dir, err := os.MkdirTemp("", "carrel-status-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	for want := 0; want < 3; want++ {
		got, err := CountStart(dir)
		if err != nil || got != want {
			t.Fatalf("CountStart = %d, %v; want %d", got, err, want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "starts"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := CountStart(dir); err != nil || got != 0 {
		t.Fatalf("garbage counter: %d, %v", got, err)
	}
}

func BenchmarkCollect(b *testing.B) {
	c := New(context.Background(), Options{AgentVersion: "1"})
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Collect(ctx)
	}
}

func TestSetSessionSource(t *testing.T) {
	c := New(context.Background(), Options{AgentVersion: "1"})
	if s := c.Collect(context.Background()); s.Session != protocol.SessionUnknown {
		t.Fatalf("default session %q", s.Session)
	}
	since := time.Now()
	c.SetSessionSource(fakeSession{protocol.SessionLocked, since})
	if s := c.Collect(context.Background()); s.Session != protocol.SessionLocked || !s.SessionSince.Equal(since) {
		t.Fatalf("session after SetSessionSource: %+v", s)
	}
	c.SetSessionSource(nil)
	if s := c.Collect(context.Background()); s.Session != protocol.SessionUnknown {
		t.Fatalf("session after reset %q", s.Session)
	}
}

func TestErrNotImplementedIsUnsupported(t *testing.T) {
	if !errors.Is(ErrNotImplemented, errors.ErrUnsupported) {
		t.Fatal("ErrNotImplemented does not wrap errors.ErrUnsupported")
	}
}
