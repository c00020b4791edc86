package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carrel-kiosk/carrel/agent/selftest"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
)

// The help lists every check with what it proves; --json reports every check
// with an outcome and a reason; --only runs the named ones; the exit status
// says whether one failed.
func TestSelfTestCommand(t *testing.T) {
	var help bytes.Buffer
	if code := dispatch(context.Background(), []string{"selftest", "--help"}, &help, &help); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, c := range selftest.Checks() {
		if !strings.Contains(help.String(), c.Name) || !strings.Contains(help.String(), c.Proves) {
			t.Errorf("help does not explain %s:\n%s", c.Name, help.String())
		}
	}

	dir := winetest.TempDir(t)
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "agent.toml")
	toml := fmt.Sprintf("state_dir = %q\ndisable = [\"downloads\", \"exec_guard\", \"browser_policy\", \"session\"]\n", state)
	if err := os.WriteFile(cfgPath, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	code := dispatch(context.Background(), []string{"selftest", "--config", cfgPath, "--json"}, &out, &errw)
	if code != 1 {
		t.Fatalf("with every guard off: exit %d, want 1\n%s%s", code, out.String(), errw.String())
	}
	var rep selfTestOutput
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out.String())
	}
	if rep.Proven || len(rep.Results) != len(selftest.Checks()) {
		t.Fatalf("report %+v", rep)
	}
	for _, r := range rep.Results {
		if !r.Outcome.Known() || r.Reason == "" {
			t.Errorf("%s: %q %q", r.Check, r.Outcome, r.Reason)
		}
		if r.Check == selftest.CheckExecGuard && r.Outcome != protocol.SelfTestNotApplicable && !strings.Contains(r.Reason, "turned off") {
			t.Errorf("exec-guard with the guard disabled: %+v", r)
		}
	}

	out.Reset()
	if code := dispatch(context.Background(), []string{"selftest", "--config", cfgPath, "--only", "state-dir"}, &out, &errw); code != 0 {
		t.Fatalf("--only state-dir: exit %d\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "state-dir") || !strings.Contains(out.String(), "passed") || !strings.Contains(out.String(), "Proven") {
		t.Errorf("table:\n%s", out.String())
	}
	if code := dispatch(context.Background(), []string{"selftest", "--config", cfgPath, "--only", "nope"}, &out, &errw); code != 2 {
		t.Errorf("--only nope: exit %d, want 2", code)
	}
}
