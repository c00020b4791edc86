package main

import (
	"strings"
	"testing"
)

// TestServiceCommandsUsage: the service commands parse their flags before
// they touch any service manager (nothing here reaches this machine's).
func TestServiceCommandsUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"install", "--help"}, 0, "--no-start"},
		{[]string{"install", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"install", "extra"}, 2, "usage: carrel-hub install"},
		{[]string{"uninstall", "--help"}, 0, "--purge"},
		{[]string{"status", "extra"}, 2, "usage: carrel-hub status"},
		{[]string{"start", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"service", "--help"}, 0, "--listen"},
		{[]string{"install", "--system", "no-such-system"}, 1, `service manager "no-such-system" is not available here`},
		{[]string{"restore"}, 2, "usage: carrel-hub restore FILE --data DIR"},
		{[]string{"restore", "a.db", "b.db"}, 2, "usage: carrel-hub restore"},
	} {
		code, out, errs := run(t, c.args...)
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("%v: exit %d, want %d; output %q does not contain %q", c.args, code, c.code, out+errs, c.want)
		}
	}
	if _, out, _ := run(t, "--help"); strings.Contains(out, "  service ") || !strings.Contains(out, "  install ") || !strings.Contains(out, "  restore ") {
		t.Errorf("help lists the hidden service entry or lacks install/restore:\n%s", out)
	}
}
