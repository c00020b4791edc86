//go:build linux

package browserpolicy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

type linuxPaths struct {
	root, chrome, edge, chromium, firefox, firefoxESR, distESR string
}

func newLinuxPaths(t *testing.T) linuxPaths {
	root := t.TempDir()
	return linuxPaths{
		root:       root,
		chrome:     filepath.Join(root, "etc/opt/chrome/policies/managed/carrel.json"),
		edge:       filepath.Join(root, "etc/opt/edge/policies/managed/carrel.json"),
		chromium:   filepath.Join(root, "etc/chromium/policies/managed/carrel.json"),
		firefox:    filepath.Join(root, "etc/firefox/policies/policies.json"),
		firefoxESR: filepath.Join(root, "etc/firefox-esr/policies/policies.json"),
		distESR:    filepath.Join(root, "usr/lib/firefox-esr/distribution/policies.json"),
	}
}

func checkPolicyFile(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() || !fileModeOK(fi) {
		t.Errorf("%s: mode %v, want a regular file 0644 owned by us", path, fi.Mode())
	}
}

func TestApplyWritesEveryBrowser(t *testing.T) {
	p := newLinuxPaths(t)
	if err := os.MkdirAll(filepath.Join(p.root, "usr/lib/firefox-esr"), 0o755); err != nil {
		t.Fatal(err)
	}
	sink := newSink(t)
	m := New(DefaultConfig(), p.root, testLogger(t), sink)
	changed, err := m.Apply()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{p.chrome, p.edge, p.chromium, p.firefox, p.firefoxESR, p.distESR}
	if !slices.Equal(changed, want) {
		t.Errorf("changed = %v\nwant %v", changed, want)
	}
	if _, err := os.Stat(filepath.Join(p.root, "usr/lib/firefox/distribution")); !os.IsNotExist(err) {
		t.Errorf("distribution dir made for a Firefox that is not installed: %v", err)
	}
	for _, f := range want {
		checkPolicyFile(t, f)
	}
	var chrome, edge map[string]any
	if err := json.Unmarshal(mustRead(t, p.chrome), &chrome); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mustRead(t, p.edge), &edge); err != nil {
		t.Fatal(err)
	}
	if chrome["DownloadRestrictions"] != 2.0 || chrome["IncognitoModeAvailability"] != 1.0 ||
		edge["InPrivateModeAvailability"] != 1.0 || chrome["DeveloperToolsAvailability"] != 2.0 {
		t.Errorf("chrome %v\nedge %v", chrome, edge)
	}
	if ours, err := inspectFirefoxJSON(mustRead(t, p.distESR)); !ours || err != nil {
		t.Errorf("firefox file not Carrel's: %v", err)
	}
	// A second Apply finds nothing to do and reports nothing.
	changed, err = m.Apply()
	if err != nil || len(changed) != 0 {
		t.Errorf("second Apply: %v %v", changed, err)
	}
	if n := len(sink.All()); n != 0 {
		t.Errorf("%d events for a first install", n)
	}
	// No temporary files left behind.
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(p.chrome), ".*"))
	if len(matches) != 0 {
		t.Errorf("left behind: %v", matches)
	}
}

func TestApplyRestoresAndReports(t *testing.T) {
	p := newLinuxPaths(t)
	sink := newSink(t)
	m := New(DefaultConfig(), p.root, testLogger(t), sink)
	if _, err := m.Apply(); err != nil {
		t.Fatal(err)
	}
	good := mustRead(t, p.chrome)
	// A patron tool edits Chrome's, chmods Edge's and deletes Chromium's file;
	// one strips Carrel's marker from Firefox's (still Carrel's: it wrote it).
	os.WriteFile(p.chrome, []byte(`{"DownloadRestrictions": 0}`), 0o644)
	os.Chmod(p.edge, 0o666)
	os.Remove(p.chromium)
	os.WriteFile(p.firefox, []byte(`{"policies": {}}`), 0o644)
	changed, err := m.Apply()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{p.chrome, p.edge, p.chromium, p.firefox}
	if !slices.Equal(changed, want) {
		t.Errorf("changed = %v, want %v", changed, want)
	}
	if !bytes.Equal(mustRead(t, p.chrome), good) {
		t.Error("chrome policy not restored")
	}
	checkPolicyFile(t, p.edge)
	for _, f := range want {
		if countFor(sink, protocol.EventPolicyReasserted, f) != 1 {
			t.Errorf("no single %s event for %s: %v", protocol.EventPolicyReasserted, f, sink)
		}
	}
}

func TestWatchReassertsOnInotify(t *testing.T) {
	p := newLinuxPaths(t)
	sink := newSink(t)
	cfg := DefaultConfig()
	cfg.Interval = time.Hour // only inotify can wake the watcher within the test
	m := New(cfg, p.root, testLogger(t), sink)
	rechecked := startWatch(t, m)
	rechecked() // first apply done, directories watched
	good := mustRead(t, p.chrome)

	// Deleted: restored, reported.
	if err := os.Remove(p.chrome); err != nil {
		t.Fatal(err)
	}
	waitPolicyEvent(t, sink, protocol.EventPolicyReasserted, Chrome, p.chrome)
	testbin.WaitFor(t, 10*time.Second, "chrome restored", func() bool {
		b, err := os.ReadFile(p.chrome)
		return err == nil && bytes.Equal(b, good)
	})

	// Edited in place: restored, reported.
	if err := os.WriteFile(p.firefox, []byte(`{"policies": {"DisableDeveloperTools": false}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	waitPolicyEvent(t, sink, protocol.EventPolicyReasserted, Firefox, p.firefox)
	testbin.WaitFor(t, 10*time.Second, "firefox restored", func() bool {
		b, err := os.ReadFile(p.firefox)
		ours, _ := inspectFirefoxJSON(b)
		return err == nil && ours
	})

	// Made world-writable: mode restored, reported.
	if err := os.Chmod(p.edge, 0o666); err != nil {
		t.Fatal(err)
	}
	waitPolicyEvent(t, sink, protocol.EventPolicyReasserted, Edge, p.edge)
	testbin.WaitFor(t, 10*time.Second, "edge mode restored", func() bool {
		fi, err := os.Stat(p.edge)
		return err == nil && fi.Mode().Perm() == 0o644
	})

	// The policy directory moved away whole: recreated, reported...
	if err := os.Rename(filepath.Dir(p.chromium), filepath.Join(p.root, "moved")); err != nil {
		t.Fatal(err)
	}
	waitPolicyEvent(t, sink, protocol.EventPolicyReasserted, Chromium, p.chromium)
	testbin.WaitFor(t, 10*time.Second, "chromium restored", func() bool { _, err := os.Stat(p.chromium); return err == nil })
	// ...and the new directory is watched: deleting the file there is seen.
	// (The interval is an hour, so only a re-armed watch can pass this.)
	testbin.WaitFor(t, 10*time.Second, "second chromium event", func() bool {
		os.Remove(p.chromium)
		return countFor(sink, protocol.EventPolicyReasserted, p.chromium) >= 2
	})
	for _, e := range sink.All() {
		if e.Kind != protocol.EventPolicyReasserted {
			t.Errorf("unexpected event %v", e)
		}
	}
}

func TestWatchStopsCleanly(t *testing.T) {
	before := runtime.NumGoroutine()
	p := newLinuxPaths(t)
	m := New(DefaultConfig(), p.root, testLogger(t), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	m.reasserted = func() { cancel() }
	go func() { done <- m.Watch(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
	testbin.WaitFor(t, 10*time.Second, "watch goroutines gone", func() bool { return runtime.NumGoroutine() <= before })
}

func TestWatchFindsNewInstallOnInterval(t *testing.T) {
	p := newLinuxPaths(t)
	sink := newSink(t)
	cfg := DefaultConfig()
	cfg.Interval = time.Second
	cfg.Browsers = []string{Firefox}
	m := New(cfg, p.root, testLogger(t), sink)
	rechecked := startWatch(t, m)
	rechecked()
	// Firefox installed after the agent started: /opt is not watched, the
	// interval re-check finds it. A first write there is not a re-assertion.
	if err := os.MkdirAll(filepath.Join(p.root, "opt/firefox"), 0o755); err != nil {
		t.Fatal(err)
	}
	dist := filepath.Join(p.root, "opt/firefox/distribution/policies.json")
	testbin.WaitFor(t, 10*time.Second, "policy in the new install", func() bool { _, err := os.Stat(dist); return err == nil })
	checkPolicyFile(t, dist)
	if n := len(sink.All()); n != 0 {
		t.Errorf("events for a new install: %v", sink)
	}
}

func TestFirefoxForeignFileRefused(t *testing.T) {
	p := newLinuxPaths(t)
	debian := []byte("{\"policies\": {\"DisableAppUpdate\": true}}\n")
	if err := os.MkdirAll(filepath.Dir(p.distESR), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.distESR, debian, 0o644); err != nil {
		t.Fatal(err)
	}
	sink := newSink(t)
	m := New(DefaultConfig(), p.root, testLogger(t), sink)
	changed, err := m.Apply()
	if !errors.Is(err, ErrForeignPolicy) {
		t.Fatalf("Apply: %v", err)
	}
	if slices.Contains(changed, p.distESR) || !slices.Contains(changed, p.firefox) {
		t.Errorf("changed = %v", changed)
	}
	if !bytes.Equal(mustRead(t, p.distESR), debian) {
		t.Error("foreign policies.json was changed")
	}
	if _, err := m.Apply(); !errors.Is(err, ErrForeignPolicy) {
		t.Errorf("second Apply: %v", err)
	}
	if n := countFor(sink, protocol.EventPolicyRefused, p.distESR); n != 1 {
		t.Errorf("%d refusal events, want 1: %v", n, sink)
	}
	// Remove leaves it alone too.
	if err := m.Remove(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustRead(t, p.distESR), debian) {
		t.Error("Remove touched the foreign policies.json")
	}

	// A symlink planted where the file goes is not followed nor replaced.
	os.Remove(p.firefox)
	os.MkdirAll(filepath.Dir(p.firefox), 0o755)
	victim := filepath.Join(p.root, "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	if err := os.Symlink(victim, p.firefox); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(); !errors.Is(err, ErrForeignPolicy) {
		t.Errorf("Apply over symlink: %v", err)
	}
	if string(mustRead(t, victim)) != "keep" {
		t.Error("symlink target written")
	}
}

func TestFirefoxTakeOver(t *testing.T) {
	p := newLinuxPaths(t)
	debian := []byte("{\"policies\": {\"DisableAppUpdate\": true}}\n")
	os.MkdirAll(filepath.Dir(p.distESR), 0o755)
	if err := os.WriteFile(p.distESR, debian, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.TakeOverFirefox = true
	m := New(cfg, p.root, testLogger(t), newSink(t))
	if _, err := m.Apply(); err != nil {
		t.Fatal(err)
	}
	if ours, _ := inspectFirefoxJSON(mustRead(t, p.distESR)); !ours {
		t.Error("not taken over")
	}
	if !bytes.Equal(mustRead(t, p.distESR+backupSuffix), debian) {
		t.Error("other file not kept")
	}
	if err := m.Remove(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustRead(t, p.distESR), debian) {
		t.Error("other file not restored")
	}
	if _, err := os.Stat(p.distESR + backupSuffix); !os.IsNotExist(err) {
		t.Errorf("backup left: %v", err)
	}
	// A fresh Manager (agent restarted) still recognises its own file by the marker.
	m2 := New(cfg, p.root, testLogger(t), nil)
	if _, err := m2.Apply(); err != nil {
		t.Fatal(err)
	}
	m3 := New(DefaultConfig(), p.root, testLogger(t), nil)
	if _, err := m3.Apply(); err != nil {
		t.Errorf("restarted agent refused its own file: %v", err)
	}
}

func TestRemoveLeavesOthersAlone(t *testing.T) {
	p := newLinuxPaths(t)
	m := New(DefaultConfig(), p.root, testLogger(t), newSink(t))
	other := filepath.Join(filepath.Dir(p.chrome), "it-department.json")
	os.MkdirAll(filepath.Dir(other), 0o755)
	if err := os.WriteFile(other, []byte(`{"HomepageLocation": "https://library.example"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{p.chrome, p.edge, p.chromium, p.firefox, p.firefoxESR} {
		if _, err := os.Lstat(f); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", f, err)
		}
	}
	if string(mustRead(t, other)) != `{"HomepageLocation": "https://library.example"}` {
		t.Error("other tool's policy file changed")
	}
	// After Remove, re-assertion does not put anything back; Apply does.
	m.reassert(nil)
	if _, err := os.Lstat(p.chrome); !os.IsNotExist(err) {
		t.Errorf("re-asserted after Remove: %v", err)
	}
	if _, err := m.Apply(); err != nil {
		t.Fatal(err)
	}
	checkPolicyFile(t, p.chrome)
	// Removing twice is fine.
	if err := m.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveWithNothingWritten(t *testing.T) {
	p := newLinuxPaths(t)
	if err := New(DefaultConfig(), p.root, testLogger(t), nil).Remove(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(p.root); len(entries) != 0 {
		t.Errorf("Remove created %v", entries)
	}
}

func TestWriteFailureReportedOnce(t *testing.T) {
	p := newLinuxPaths(t)
	// A regular file where the managed directory should be.
	os.MkdirAll(filepath.Join(p.root, "etc/opt/chrome/policies"), 0o755)
	os.WriteFile(filepath.Join(p.root, "etc/opt/chrome/policies/managed"), nil, 0o644)
	sink := newSink(t)
	cfg := DefaultConfig()
	cfg.Browsers = []string{Chrome, Edge}
	m := New(cfg, p.root, testLogger(t), sink)
	for range 2 {
		changed, err := m.Apply()
		if err == nil || errors.Is(err, ErrForeignPolicy) {
			t.Errorf("Apply: %v", err)
		}
		_ = changed
	}
	if n := countFor(sink, protocol.EventPolicyFailed, p.chrome); n != 1 {
		t.Errorf("%d failure events, want 1", n)
	}
	checkPolicyFile(t, p.edge) // the other browser is still applied
}

func TestHardensPolicyDir(t *testing.T) {
	p := newLinuxPaths(t)
	dir := filepath.Dir(p.chrome)
	os.MkdirAll(dir, 0o777)
	os.Chmod(dir, 0o777)
	cfg := DefaultConfig()
	cfg.Browsers = []string{Chrome}
	if _, err := New(cfg, p.root, nil, nil).Apply(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("policy dir mode %v %v", fi.Mode(), err)
	}
}
