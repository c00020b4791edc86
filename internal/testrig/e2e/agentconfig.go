package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// AgentConfig writes a config for one test agent with its own state dir and
// returns its path. Tests that run real carrel-agent processes on this machine
// use it (internal/e2e, console/xvfbtest). Every
// component is scoped to the agent's own sandbox under dir: its patron folders
// are dir/patron/*, its quarantine and wipe directories live in dir, browser
// policies (system files) are off, and the exec guard watches processes but does
// not mark the machine's mount with fanotify.
func AgentConfig(t testing.TB, dir, hubURL string) string {
	t.Helper()
	state := filepath.Join(dir, "state")
	for _, d := range []string{state, filepath.Join(dir, "patron", "Downloads")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "agent.toml")
	patron := filepath.Join(dir, "patron")
	body := fmt.Sprintf(`hub_url = %q
state_dir = %q
status_interval = "1s"
disable = ["browser_policy"]

[downloads]
roots = [%q]
exclude = []
quarantine_dir = %q
roots_interval = "1s"

[exec_guard]
roots = [%q]
enforce = false

[session]
patron_users = ["carrel-test-nobody"]
utmp_path = %q

[wipe]
template_dir = %q
journal_dir = %q
temp_dirs = []
print_spool_dirs = []
protected_dirs = [%q]
`, hubURL, state, patron+"/*", filepath.Join(dir, "quarantine"), patron+"/*",
		filepath.Join(dir, "utmp"), filepath.Join(dir, "template"), filepath.Join(dir, "wipe"), state)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}
