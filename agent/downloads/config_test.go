package downloads

import (
	"path/filepath"
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
roots = ["/srv/patrons/*"]
exclude = []
removable_drives = true
quarantine_dir = "/var/lib/x/q"
roots_interval = "1m"
workers = 4
`, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Roots) != 1 || len(c.Exclude) != 0 || !c.RemovableDrives || c.QuarantineDir != "/var/lib/x/q" || c.RootsInterval != time.Minute || c.Workers != 4 {
		t.Errorf("decoded %+v", c)
	}
	good := DefaultConfig()
	for name, edit := range map[string]func(*Config){
		"relative root": func(c *Config) { c.Roots = []string{"home/*"} },
		"bad glob":      func(c *Config) { c.Exclude = []string{string(filepath.Separator) + "a["} },
		"no quarantine": func(c *Config) { c.QuarantineDir = "" },
		"fast interval": func(c *Config) { c.RootsInterval = time.Millisecond },
		"zero workers":  func(c *Config) { c.Workers = 0 },
		"many workers":  func(c *Config) { c.Workers = 1000 },
	} {
		c := good
		edit(&c)
		if c.Validate() == nil {
			t.Errorf("%s: Validate = nil", name)
		}
	}
}
