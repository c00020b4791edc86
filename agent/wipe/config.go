package wipe

import (
	"slices"
	"time"
)

// osDefaults are the per-OS default paths of Config (set in fs_*.go).
type osDefaults struct {
	template, journal      string
	temp, spool, protected []string
}

// Config is the [wipe] section of the agent's configuration. The path defaults
// below are Linux's; Windows uses %ProgramData%\Carrel, and %SystemRoot%\Temp and
// %SystemDrive%\$Recycle.Bin as shared temp dirs.
type Config struct {
	// PatronUsers lists the account names that may be wiped. Default: none (use
	// PatronGroup).
	PatronUsers []string `toml:"patron_users"`
	// PatronGroup: members of this group may be wiped too. Default "carrel-patrons".
	PatronGroup string `toml:"patron_group"`
	// StaffUsers are never wiped, whatever the two settings above say.
	StaffUsers []string `toml:"staff_users"`
	// MinUID is the lowest uid a patron may have; lower ids are system accounts and
	// always refused. Default 1000.
	MinUID int `toml:"min_uid"`
	// TemplateDir holds the template written by "carrel-agent template capture".
	// Default "/var/lib/carrel/template".
	TemplateDir string `toml:"template_dir"`
	// JournalDir holds one journal per unfinished wipe and the logon gate's saved
	// state. Default "/var/lib/carrel/wipe".
	JournalDir string `toml:"journal_dir"`
	// TrashDir is where homes are renamed aside. It must be on the same filesystem
	// as the homes, or wipes fall back to a slower in-place purge. Default "": a
	// ".carrel-trash" directory next to each home.
	TrashDir string `toml:"trash_dir"`
	// TempDirs are shared temp directories cleared of the patron's files (only
	// entries owned by the patron's uid). Default ["/tmp", "/var/tmp", "/dev/shm"].
	TempDirs []string `toml:"temp_dirs"`
	// PrintSpoolDirs are cleared like TempDirs. Default ["/var/spool/cups"].
	PrintSpoolDirs []string `toml:"print_spool_dirs"`
	// ProtectedDirs are never in scope, nor any directory inside or above them (the
	// agent's own state and configuration). Default ["/var/lib/carrel", "/etc/carrel"].
	ProtectedDirs []string `toml:"protected_dirs"`
	// KillTimeout bounds how long ending the patron's processes may take. Default 5s.
	KillTimeout time.Duration `toml:"kill_timeout"`
	// PurgeRetries is how often a directory that refills while it is purged is
	// emptied again before it is reported. Default 3.
	PurgeRetries int `toml:"purge_retries"`
	// PurgeWorkers is how many subtrees of the trash are purged at once. Default 4.
	PurgeWorkers int `toml:"purge_workers"`
	// MaxLeftovers caps the leftovers listed in a report. Default 100.
	MaxLeftovers int `toml:"max_leftovers"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		PatronGroup:    "carrel-patrons",
		MinUID:         1000,
		TemplateDir:    defaults.template,
		JournalDir:     defaults.journal,
		TempDirs:       slices.Clone(defaults.temp),
		PrintSpoolDirs: slices.Clone(defaults.spool),
		ProtectedDirs:  slices.Clone(defaults.protected),
		KillTimeout:    5 * time.Second,
		PurgeRetries:   3,
		PurgeWorkers:   4,
		MaxLeftovers:   100,
	}
}
