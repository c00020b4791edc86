//go:build windows

package selftest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows/registry"

	"github.com/carrel-kiosk/carrel/agent/browserpolicy"
	"github.com/carrel-kiosk/carrel/agent/classify"
	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/agent/downloads"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"
	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
)

// The Windows self-test under Wine (2026-12): the state and quarantine dirs'
// DACLs, the download guard (ReadDirectoryChangesW) taking the canary, the
// browser policies read back from the registry (under a test key) and failing
// when a value is removed, and the exec check reporting the canary ran (Wine
// enforces no Software Restriction Policies: on Windows the SRP path rule
// refuses it, which only a real PC shows). The wipe and logon-gate checks say
// not testable; the service check fails (not installed in the prefix).
func TestSelfTestUnderWindows(t *testing.T) {
	work := winetest.TempDir(t)
	cfg := config.DefaultConfig()
	cfg.StateDir = filepath.Join(work, "state")
	if err := config.EnsureStateDir(cfg.StateDir); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(work, "shared")
	os.Mkdir(shared, 0o777)
	cfg.Downloads.Roots = []string{shared}
	cfg.Downloads.Exclude = nil
	cfg.Downloads.QuarantineDir = filepath.Join(work, "quarantine")
	cfg.ExecGuard.Roots = []string{shared}
	cfg.SelfTest.CanaryDir = shared
	log := testLog(t)

	policyRoot := filepath.Join(work, "policy")
	pm := browserpolicy.New(cfg.BrowserPolicy, policyRoot, log, nil)
	if _, err := pm.Apply(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pm.Remove() })

	sink := &eventrec.Recorder{}
	dg, err := downloads.New(cfg.Downloads, classify.New(cfg.Classify), sink, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dg.Run(ctx) }()
	defer func() { cancel(); <-done }()

	env := &Env{Config: cfg, Log: log, policyRoot: policyRoot, downloadWait: 15 * time.Second}
	rep, err := Run(context.Background(), env, Checks())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		t.Logf("%-17s %-15s %s", r.Check, r.Outcome, r.Reason)
	}
	want := map[string]protocol.SelfTestOutcome{
		CheckStateDir: protocol.SelfTestPass, CheckQuarantineDir: protocol.SelfTestPass,
		CheckDownloadGuard: protocol.SelfTestPass, CheckBrowserPolicies: protocol.SelfTestPass,
		CheckExecGuard: protocol.SelfTestFail, // Wine: no SRP
		CheckWipe:      protocol.SelfTestNotTestable, CheckLogonGate: protocol.SelfTestNotTestable,
		CheckLockScreen: protocol.SelfTestNotTestable,
	}
	for c, o := range want {
		if r, _ := rep.Result(c); r.Outcome != o {
			t.Errorf("%s = %s (%s), want %s", c, r.Outcome, r.Reason, o)
		}
	}
	if r, _ := rep.Result(CheckExecGuard); winetest.Under() && !strings.Contains(r.Reason, "nothing refused it") {
		t.Errorf("exec-guard under Wine: %q", r.Reason)
	}
	if left := Leftovers(env); len(left) > 0 {
		t.Errorf("ledger left: %v", left)
	}
	ents, _ := os.ReadDir(shared)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), CanaryPrefix) {
			t.Errorf("canary left: %s", e.Name())
		}
	}

	// A policy value removed from the registry: the read-back names it.
	rbs, err := pm.Verify()
	if err != nil || len(rbs) == 0 {
		t.Fatalf("verify: %v %v", rbs, err)
	}
	key := strings.TrimPrefix(rbs[0].Location, `HKLM\`)
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.ALL_ACCESS)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.DeleteValue("DownloadRestrictions"); err != nil && !errors.Is(err, registry.ErrNotExist) {
		t.Fatal(err)
	}
	k.Close()
	rep, err = Run(context.Background(), env, []Check{checkNamed(t, CheckBrowserPolicies)})
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Results[0]; r.Outcome != protocol.SelfTestFail || !strings.Contains(r.Reason, "DownloadRestrictions") {
		t.Errorf("after removing DownloadRestrictions: %+v", r)
	}
}

func checkNamed(t *testing.T, name string) Check {
	for _, c := range Checks() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %s", name)
	return Check{}
}
