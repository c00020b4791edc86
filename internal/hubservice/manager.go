package hubservice

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"github.com/carrel-kiosk/carrel/internal/svcctl"
	kservice "github.com/kardianos/service"
)

// Errors a Manager returns; test with errors.Is.
var (
	// ErrNotAdmin: the command needs root or an elevated Administrator prompt.
	ErrNotAdmin = errors.New("this needs administrator rights (run as root, or from an elevated prompt on Windows)")
	// ErrNotInstalled: the service is not installed.
	ErrNotInstalled = errors.New("carrel-hub is not installed as a service")
	// ErrPackaged: the service belongs to the carrel-hub package; the package
	// manager installs and removes it.
	ErrPackaged = errors.New("carrel-hub is installed by its package (the .deb): use apt, and systemctl start|stop carrel-hub")
	// ErrNotImplemented: the operation does not exist on this OS.
	ErrNotImplemented = fmt.Errorf("not implemented on this OS: %w", errors.ErrUnsupported)
)

// PackagedUnits are where the .deb's unit lives; a hub installed that way is
// not `carrel-hub install`'s to change.
var PackagedUnits = []string{"/lib/systemd/system/carrel-hub.service", "/usr/lib/systemd/system/carrel-hub.service"}

// Controller is the part of a kardianos service that Manager drives.
type Controller interface {
	Install() error
	Uninstall() error
	Start() error
	Stop() error
	Status() (kservice.Status, error)
}

var _ Controller = kservice.Service(nil)

// Options configure a Manager.
type Options struct {
	// Executable is the carrel-hub the service runs; empty means this process's.
	Executable string
	// DataDir is the hub's data directory. Required.
	DataDir string
	// Args are more `serve` arguments (--listen, --name ...).
	Args []string
	// System forces a kardianos system by name ("linux-systemd",
	// "unix-systemv", "windows-service"); empty means the detected one.
	System string
	// Controller replaces the kardianos service (tests).
	Controller Controller
	// Log receives progress; nil discards.
	Log *slog.Logger
}

// Manager installs and controls the hub service.
type Manager struct {
	exe, data string
	ctl       Controller
	log       *slog.Logger
	// isAdmin and packaged are the real checks except in tests.
	isAdmin  func() error
	packaged func() bool
}

// NewManager builds a Manager for the hub service on this machine.
func NewManager(o Options) (*Manager, error) {
	if o.DataDir == "" {
		return nil, errors.New("hub service: no data directory")
	}
	data, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, err
	}
	exe := o.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find own executable: %w", err)
		}
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return nil, err
	}
	m := &Manager{exe: exe, data: data, ctl: o.Controller, log: o.Log, isAdmin: checkAdmin, packaged: packaged}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.ctl == nil {
		cfg, err := KardianosConfig(exe, data, o.Args, systemName(o.System))
		if err != nil {
			return nil, err
		}
		if m.ctl, err = newKardianos(cfg, o.System); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// systemName is the kardianos system that will be used: the forced one, else
// the detected one.
func systemName(forced string) string {
	if forced != "" {
		return forced
	}
	if s := kservice.ChosenSystem(); s != nil {
		return s.String()
	}
	return runtime.GOOS
}

// KardianosConfig is the service definition handed to kardianos for system
// (a kardianos system name). On systemd the unit is SystemdUnit's (run as
// root: only the .deb makes the carrel-hub user); the Windows service runs
// the `service` entry point.
func KardianosConfig(exe, dataDir string, args []string, system string) (*kservice.Config, error) {
	entry := "serve"
	if system == "windows-service" {
		entry = "service"
	}
	c := &kservice.Config{
		Name:        Name,
		DisplayName: DisplayName,
		Description: Description,
		Executable:  exe,
		Arguments:   ServeArgs(entry, dataDir, args),
		Option: kservice.KeyValue{
			// Windows: restart on every failure, 5 s later; counters reset daily.
			"OnFailure":              "restart",
			"OnFailureDelayDuration": "5s",
			"OnFailureResetPeriod":   86400,
			"StartType":              "automatic",
			// sysv/upstart/openrc
			"Restart":     "always",
			"LimitNOFILE": 65536,
		},
	}
	if system == "linux-systemd" {
		unit, err := SystemdUnit(UnitOptions{Executable: exe, DataDir: dataDir, Args: args})
		if err != nil {
			return nil, err
		}
		// No template actions in it: kardianos copies it through.
		c.Option["SystemdScript"] = unit
	}
	return c, nil
}

func newKardianos(c *kservice.Config, system string) (Controller, error) {
	return svcctl.New(c, system)
}

// InstallReport says what Install found and did.
type InstallReport struct {
	AlreadyInstalled bool
	Started          bool
}

// Install registers the service, creates the data directory (0700) and
// starts it unless noStart. Running it again is harmless.
func (m *Manager) Install(noStart bool) (InstallReport, error) {
	var r InstallReport
	if err := m.isAdmin(); err != nil {
		return r, err
	}
	if m.packaged() {
		return r, ErrPackaged
	}
	if fi, err := os.Stat(m.exe); err != nil {
		return r, fmt.Errorf("hub executable: %w", err)
	} else if fi.IsDir() {
		return r, fmt.Errorf("hub executable %s is a directory", m.exe)
	}
	if err := ensureDataDir(m.data); err != nil {
		return r, err
	}
	st, err := m.ctl.Status()
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
		if err := m.ctl.Install(); err != nil {
			return r, fmt.Errorf("register service: %w", err)
		}
		m.log.Info("Service registered", "name", Name, "executable", m.exe, "data", m.data)
	case err != nil:
		return r, fmt.Errorf("query service: %w", err)
	default:
		r.AlreadyInstalled = true
	}
	if noStart {
		return r, nil
	}
	if r.AlreadyInstalled && st == kservice.StatusRunning {
		r.Started = true
		return r, nil
	}
	if err := m.ctl.Start(); err != nil {
		return r, fmt.Errorf("start service: %w", err)
	}
	r.Started = true
	return r, nil
}

// UninstallReport says what Uninstall found and did.
type UninstallReport struct {
	WasInstalled bool
	Purged       string // the data directory, when purged
}

// Uninstall stops and unregisters the service; with purge it also deletes the
// data directory: the CA, so every PC would have to enroll again.
func (m *Manager) Uninstall(purge bool) (UninstallReport, error) {
	var r UninstallReport
	if err := m.isAdmin(); err != nil {
		return r, err
	}
	if m.packaged() {
		return r, ErrPackaged
	}
	st, err := m.ctl.Status()
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
	case err != nil:
		return r, fmt.Errorf("query service: %w", err)
	default:
		r.WasInstalled = true
		if st == kservice.StatusRunning {
			if err := m.ctl.Stop(); err != nil {
				return r, fmt.Errorf("stop service: %w", err)
			}
		}
		if err := m.ctl.Uninstall(); err != nil {
			return r, fmt.Errorf("unregister service: %w", err)
		}
		m.log.Info("Service unregistered", "name", Name)
	}
	if purge {
		if _, err := os.Lstat(m.data); err == nil {
			if err := os.RemoveAll(m.data); err != nil {
				return r, fmt.Errorf("purge %s: %w", m.data, err)
			}
			r.Purged = m.data
		}
	}
	return r, nil
}

// Start starts the installed service.
func (m *Manager) Start() error { return m.control("start", m.ctl.Start) }

// Stop stops the service.
func (m *Manager) Stop() error { return m.control("stop", m.ctl.Stop) }

func (m *Manager) control(what string, f func() error) error {
	if err := m.isAdmin(); err != nil {
		return err
	}
	if _, err := m.ctl.Status(); errors.Is(err, kservice.ErrNotInstalled) {
		return ErrNotInstalled
	}
	if err := f(); err != nil {
		return fmt.Errorf("%s service: %w", what, err)
	}
	return nil
}

// State is the service state as Status reports it.
type State string

// States of the service.
const (
	StateNotInstalled State = "not installed"
	StateRunning      State = "running"
	StateStopped      State = "stopped"
	StateUnknown      State = "unknown"
)

// Status queries the service. It needs no rights.
func (m *Manager) Status() (State, error) {
	st, err := m.ctl.Status()
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
		return StateNotInstalled, nil
	case err != nil:
		return StateUnknown, fmt.Errorf("query service: %w", err)
	case st == kservice.StatusRunning:
		return StateRunning, nil
	case st == kservice.StatusStopped:
		return StateStopped, nil
	}
	return StateUnknown, nil
}

// Packaged reports whether the hub's unit came with its package.
func (m *Manager) Packaged() bool { return m.packaged() }

func packaged() bool {
	for _, p := range PackagedUnits {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}
