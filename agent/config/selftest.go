package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// SelfTest is the [selftest] section: when the service proves its guards
// (agent/selftest) on its own, and where the canaries go.
type SelfTest struct {
	// Nightly is the local time of day ("HH:MM") the service runs the
	// self-test, "" or "off" for never (the console and the command line
	// still can). Default "03:00".
	Nightly string `toml:"nightly"`
	// Jitter spreads the nightly runs of a room over this long after Nightly
	// (a random delay each night), so a hub is not sent every PC's result in
	// the same second. Default "30m"; at most 6h.
	Jitter Duration `toml:"jitter"`
	// CanaryDir is the patron-writable directory the download and exec
	// canaries are written into; it must lie under the guards' roots. Default
	// "": the first shared temp dir the roots cover (Linux /tmp, /var/tmp,
	// /dev/shm; Windows %SystemRoot%\Temp; macOS /private/tmp), never a
	// patron's home.
	CanaryDir string `toml:"canary_dir"`
}

// DefaultSelfTest is the documented default.
func DefaultSelfTest() SelfTest {
	return SelfTest{Nightly: "03:00", Jitter: Duration(30 * time.Minute)}
}

// NightlyAt parses Nightly: the hour and minute, and false when the nightly
// run is off.
func (s SelfTest) NightlyAt() (hour, minute int, on bool, err error) {
	if s.Nightly == "" || s.Nightly == "off" {
		return 0, 0, false, nil
	}
	hs, ms, ok := strings.Cut(s.Nightly, ":")
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if !ok || err1 != nil || err2 != nil || len(hs) != 2 || len(ms) != 2 || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, 0, false, fmt.Errorf("nightly: %q is not a time of day HH:MM (or \"off\")", s.Nightly)
	}
	return h, m, true, nil
}

// Validate reports the first thing wrong with s.
func (s SelfTest) Validate() error {
	if _, _, _, err := s.NightlyAt(); err != nil {
		return err
	}
	if s.Jitter.D() < 0 || s.Jitter.D() > 6*time.Hour {
		return errors.New("jitter: must be between 0 and 6h")
	}
	if s.CanaryDir != "" && !filepath.IsAbs(s.CanaryDir) {
		return fmt.Errorf("canary_dir: %q is not an absolute path", s.CanaryDir)
	}
	return nil
}

// NextNightly is the first nightly run after now (local time of now), before
// jitter; ok is false when the nightly run is off.
func (s SelfTest) NextNightly(now time.Time) (next time.Time, ok bool) {
	h, m, on, err := s.NightlyAt()
	if err != nil || !on {
		return time.Time{}, false
	}
	next = time.Date(now.Year(), now.Month(), now.Day(), h, m, 0, 0, now.Location())
	if !next.After(now) {
		next = time.Date(now.Year(), now.Month(), now.Day()+1, h, m, 0, 0, now.Location())
	}
	return next, true
}
