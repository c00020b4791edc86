package execguard

import (
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestConfigTOML(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if _, err := toml.Decode(`
roots = ["/home/*/Downloads"]
enforce = false
poll_interval = "500ms"
roots_interval = "30s"
`, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Roots) != 1 || c.Enforce || !c.KillProcesses || c.PollInterval != 500*time.Millisecond || c.RootsInterval != 30*time.Second {
		t.Errorf("decoded %+v", c)
	}
	for _, bad := range []Config{
		{Roots: []string{"relative/*"}, PollInterval: time.Second, RootsInterval: time.Second},
		{Roots: []string{"/a/["}, PollInterval: time.Second, RootsInterval: time.Second},
		{PollInterval: time.Millisecond, RootsInterval: time.Second},
	} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", bad)
		}
	}
}
