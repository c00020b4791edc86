//go:build linux

package wipe

import (
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestConfigTOML(t *testing.T) {
	cfg := DefaultConfig()
	_, err := toml.Decode(`
patron_users = ["pc01", "pc02"]
patron_group = "patrons"
min_uid = 2000
trash_dir = "/home/.trash"
temp_dirs = ["/tmp"]
kill_timeout = "2s"
purge_workers = 2
`, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.KillTimeout != 2*time.Second || cfg.MinUID != 2000 || len(cfg.PatronUsers) != 2 ||
		cfg.TrashDir != "/home/.trash" || cfg.PurgeWorkers != 2 || cfg.JournalDir != DefaultConfig().JournalDir {
		t.Fatalf("decoded %+v", cfg)
	}
	if _, err := New(Config{TrashDir: "relative"}, nil, nil); err == nil {
		t.Fatal("relative trash_dir accepted")
	}
	for _, bad := range []string{"/", "/etc", "/usr", "/home", "tmp", "/tmp/../etc"} {
		if _, err := New(Config{TempDirs: []string{bad}}, nil, nil); err == nil {
			t.Errorf("temp dir %q accepted", bad)
		}
	}
	if _, err := New(Config{TempDirs: []string{"/tmp", "/var/tmp", "/dev/shm"}, PrintSpoolDirs: []string{"/var/spool/cups"}}, nil, nil); err != nil {
		t.Errorf("default temp dirs refused: %v", err)
	}
	if _, err := New(Config{JournalDir: "/var/lib/../x"}, nil, nil); err == nil {
		t.Fatal("unclean journal_dir accepted")
	}
}
