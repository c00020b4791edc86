package agent

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/agent/selftest"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// TestSelfTestOnDemand: the console's selftest command runs the self-test in
// the running agent, answers with its summary, sends selftest.done to the
// hub, and puts the proof in the status. Here every guard is disabled, so
// the guards' checks fail ("turned off"): the event is an alert.
func TestSelfTestOnDemand(t *testing.T) {
	h := newMiniHub(t)
	cfg := enrolledConfig(t, h)
	cfg.SelfTest.Nightly = "off"
	a, err := New(cfg, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	reports := make(chan selftest.Report, 1)
	a.selftest.ran = func(r selftest.Report) { reports <- r }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	h1 := a.handler(protocol.ActionSelfTest)
	if h1 == nil {
		t.Fatal("no handler for selftest")
	}
	if _, err := h1(ctx, map[string]string{"x": "y"}); err == nil {
		t.Error("selftest with an argument accepted")
	}
	cctx, ccancel := context.WithTimeout(ctx, time.Minute)
	defer ccancel()
	out, err := h1(cctx, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	rep := <-reports
	if !strings.Contains(out, "FAILED: ") || !strings.Contains(out, selftest.CheckExecGuard) {
		t.Errorf("answer %q does not name the failed checks", out)
	}
	if r, _ := rep.Result(selftest.CheckDownloadGuard); r.Outcome != protocol.SelfTestFail || !strings.Contains(r.Reason, "turned off") {
		t.Errorf("download-guard = %+v", r)
	}
	if r, _ := rep.Result(selftest.CheckStateDir); r.Outcome != protocol.SelfTestPass {
		t.Errorf("state-dir = %+v", r)
	}
	if rep.Event().Severity() != protocol.SeverityAlert {
		t.Error("a failed self-test is not an alert")
	}
	testbin.WaitFor(t, 10*time.Second, "selftest.done at the hub", func() bool {
		return slices.Contains(h.kinds(), string(protocol.EventSelfTestDone))
	})
	st := a.status.Collect(ctx)
	if st.Proof == nil || !slices.Contains(st.Proof.Failed, selftest.CheckDownloadGuard) || st.Proof.Proven() {
		t.Fatalf("status proof = %+v", st.Proof)
	}
	if err := st.Validate(); err != nil {
		t.Fatalf("status with its proof does not validate: %v", err)
	}

	// The proof survives a restart: the next agent's status has it at once.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil // for the deferred wait
	b, err := New(cfg, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	bctx, bcancel := context.WithCancel(context.Background())
	bdone := make(chan error, 1)
	go func() { bdone <- b.Run(bctx) }()
	defer func() { bcancel(); <-bdone }()
	testbin.WaitFor(t, 10*time.Second, "the last proof after the restart", func() bool {
		p := b.status.Collect(bctx).Proof
		return p != nil && p.Time.Equal(st.Proof.Time) && slices.Equal(p.Failed, st.Proof.Failed)
	})
}

// A canary that a killed self-test left (its ledger entry in the state dir)
// is removed when the agent starts, before any self-test runs.
func TestLeftoverCanaryRemovedAtStart(t *testing.T) {
	h := newMiniHub(t)
	cfg := enrolledConfig(t, h)
	cfg.SelfTest.Nightly = "off"
	dir := tempDir(t)
	canary := filepath.Join(dir, selftest.CanaryPrefix+"0123456789abcdef.sh")
	if err := os.WriteFile(canary, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bystander := filepath.Join(dir, "patron-file.sh") // not a canary: never touched
	if err := os.WriteFile(bystander, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ledger := filepath.Join(cfg.StateDir, "selftest", "ledger")
	if err := os.MkdirAll(ledger, 0o700); err != nil {
		t.Fatal(err)
	}
	entry, _ := json.Marshal(map[string]string{"kind": "file", "name": filepath.Base(canary), "path": canary})
	if err := os.WriteFile(filepath.Join(ledger, filepath.Base(canary)+".json"), entry, 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	testbin.WaitFor(t, 10*time.Second, "the leftover canary removed", func() bool {
		_, err := os.Lstat(canary)
		return errors.Is(err, os.ErrNotExist)
	})
	testbin.WaitFor(t, 10*time.Second, "the ledger empty", func() bool {
		ents, _ := os.ReadDir(ledger)
		return len(ents) == 0
	})
	if _, err := os.Lstat(bystander); err != nil {
		t.Fatalf("a file that is not a canary was touched: %v", err)
	}
}
