package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
	"github.com/carrel-kiosk/carrel/internal/svcctl"
	kservice "github.com/kardianos/service"
)

// Errors a Manager returns; test with errors.Is.
var (
	// ErrNotAdmin: the command needs root or an elevated Administrator prompt.
	ErrNotAdmin = errors.New("this needs administrator rights (run as root, or from an elevated prompt on Windows)")
	// ErrNotInstalled: the service is not installed.
	ErrNotInstalled = errors.New("carrel-agent is not installed as a service (run: carrel-agent install)")
	// ErrNotImplemented: the operation does not exist on this OS.
	ErrNotImplemented = fmt.Errorf("not implemented on this OS: %w", errors.ErrUnsupported)
)

// Controller is the part of a kardianos service that Manager drives. Tests
// pass a fake; production uses kardianos.
type Controller interface {
	Install() error
	Uninstall() error
	Start() error
	Stop() error
	Restart() error
	Status() (kservice.Status, error)
}

var _ Controller = kservice.Service(nil)

// Enroller is the agent's enrollment, supplied by package main (it is the same
// code as `carrel-agent enroll`).
type Enroller interface {
	// Enrolled reports whether the agent already holds a certificate for a hub.
	Enrolled() (bool, error)
	// Enroll makes a key, sends a CSR with p.EnrollToken to p.HubURL pinning
	// p.HubFingerprint, and stores the certificate and hub address in the state
	// directory.
	Enroll(ctx context.Context, p Preseed) error
}

// Options configure a Manager.
type Options struct {
	// Executable is the agent binary the service runs; empty means this
	// process's executable.
	Executable string
	// Paths is the layout; an empty Config means DefaultPaths().
	Paths Paths
	// System forces a kardianos system by name (e.g. "linux-systemd",
	// "unix-systemv", "windows-service"); empty means the detected one.
	System string
	// WriteConfig writes a fresh configuration file when none exists; nil writes
	// a commented placeholder. It never overwrites an existing file.
	WriteConfig func(path string, p Preseed) error
	// Cleanup takes away what the agent put on the system outside its own
	// directories (browser policies); Uninstall calls it after the service is
	// stopped. Nil does nothing.
	Cleanup func(ctx context.Context) error
	// Controller replaces the kardianos service (tests).
	Controller Controller
	// Log receives progress; nil discards.
	Log *slog.Logger
}

// Manager installs and controls the agent service.
type Manager struct {
	exe         string
	paths       Paths
	ctl         Controller
	log         *slog.Logger
	writeConfig func(string, Preseed) error
	cleanup     func(context.Context) error
	preseed     preseedStore
	// isAdmin is checkAdmin except in tests.
	isAdmin func() error
}

// preseedStore keeps the preseed: a file, or the registry on Windows.
type preseedStore interface {
	Load() (Preseed, error) // zero Preseed and nil when there is none
	Save(Preseed) error
	Remove() error
	String() string // where, for messages
}

// NewManager builds a Manager for the service on this machine.
func NewManager(o Options) (*Manager, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	paths := o.Paths
	if paths.Config == "" {
		paths = DefaultPaths()
	}
	exe := o.Executable
	if exe == "" {
		e, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find own executable: %w", err)
		}
		exe = e
	}
	if abs, err := filepath.Abs(exe); err == nil {
		exe = abs
	}
	m := &Manager{exe: exe, paths: paths, log: log, writeConfig: o.WriteConfig, cleanup: o.Cleanup,
		preseed: newPreseedStore(paths), isAdmin: checkAdmin}
	if m.writeConfig == nil {
		m.writeConfig = writePlaceholderConfig
	}
	m.ctl = o.Controller
	if m.ctl == nil {
		ctl, err := newKardianos(exe, paths, o.System)
		if err != nil {
			return nil, err
		}
		m.ctl = ctl
	}
	return m, nil
}

// kardianosConfig is the service definition handed to kardianos.
func kardianosConfig(exe string, paths Paths) (*kservice.Config, error) {
	c := &kservice.Config{
		Name:        Name,
		DisplayName: DisplayName,
		Description: Description,
		Executable:  exe,
		Arguments:   ServiceArgs(paths.Config),
		Option: kservice.KeyValue{
			// Windows: restart on every failure, 5 s later; counters reset daily.
			"OnFailure":              "restart",
			"OnFailureDelayDuration": "5s",
			"OnFailureResetPeriod":   86400,
			"StartType":              "automatic",
			// launchd: keep it alive and start it at load.
			"KeepAlive": true,
			"RunAtLoad": true,
			// sysv/upstart/openrc
			"Restart": "always",
		},
	}
	unit, err := SystemdUnit(UnitOptions{Executable: exe, Config: paths.Config})
	if err == nil {
		// The rendered unit holds no template actions, so kardianos's engine
		// copies it through: the same unit as the .deb ships.
		c.Option["SystemdScript"] = unit
	}
	return c, nil
}

func newKardianos(exe string, paths Paths, system string) (Controller, error) {
	c, err := kardianosConfig(exe, paths)
	if err != nil {
		return nil, err
	}
	return svcctl.New(c, system)
}

// InstallRequest says what Install does beyond registering the service.
type InstallRequest struct {
	// Preseed values given on the command line; merged over a stored preseed.
	Preseed Preseed
	// Enroller, when set, enrolls right away if the agent is not enrolled and
	// the preseed is complete. A failure leaves the preseed for the service.
	Enroller Enroller
	// EnrollTimeout bounds that first attempt; zero means 30 s.
	EnrollTimeout time.Duration
	// NoStart leaves the service stopped.
	NoStart bool
}

// InstallReport says what Install found and did.
type InstallReport struct {
	AlreadyInstalled bool   // the service was registered before
	ConfigWritten    bool   // a new configuration file was written
	PreseedSaved     string // where the preseed went, empty if nothing was stored
	Enrolled         bool   // the agent is enrolled (now or before)
	EnrollErr        error  // why enrollment did not happen yet; the service retries
	Started          bool
}

// Install registers and starts the service. Running it again is harmless: it
// re-applies the preseed and directory permissions, and starts the service if
// it is stopped.
func (m *Manager) Install(ctx context.Context, req InstallRequest) (InstallReport, error) {
	var r InstallReport
	if err := m.isAdmin(); err != nil {
		return r, err
	}
	if err := req.Preseed.Validate(); err != nil {
		return r, err
	}
	if fi, err := os.Stat(m.exe); err != nil {
		return r, fmt.Errorf("agent executable: %w", err)
	} else if fi.IsDir() {
		return r, fmt.Errorf("agent executable %s is a directory", m.exe)
	}

	stored, err := m.preseed.Load()
	if err != nil {
		return r, fmt.Errorf("read preseed %s: %w", m.preseed, err)
	}
	merged := stored.Merge(req.Preseed)
	if merged != stored {
		if err := m.preseed.Save(merged); err != nil {
			return r, fmt.Errorf("write preseed %s: %w", m.preseed, err)
		}
		r.PreseedSaved = m.preseed.String()
		m.log.Info("Preseed stored", "where", m.preseed.String(), "hubURL", merged.HubURL, "token", merged.EnrollToken != "")
	}

	if err := ensureDirs(m.paths); err != nil {
		return r, err
	}
	if _, err := os.Stat(m.paths.Config); errors.Is(err, fs.ErrNotExist) {
		if err := m.writeConfig(m.paths.Config, merged); err != nil {
			return r, fmt.Errorf("write config %s: %w", m.paths.Config, err)
		}
		r.ConfigWritten = true
		m.log.Info("Config written", "path", m.paths.Config)
	} else if err != nil {
		return r, fmt.Errorf("config %s: %w", m.paths.Config, err)
	}

	st, err := m.ctl.Status()
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
		if err := m.ctl.Install(); err != nil {
			return r, fmt.Errorf("register service: %w", err)
		}
		m.log.Info("Service registered", "name", Name, "executable", m.exe)
		if err := registerLogSource(); err != nil {
			m.log.Warn("Event log source not registered; the agent logs to its file only", "source", Name, "err", err)
		}
	case err != nil:
		return r, fmt.Errorf("query service: %w", err)
	default:
		r.AlreadyInstalled = true
		m.log.Info("Service already registered", "name", Name)
	}

	if req.Enroller != nil {
		r.Enrolled, r.EnrollErr = m.enrollOnce(ctx, req.Enroller, merged, req.EnrollTimeout)
	}

	if req.NoStart {
		return r, nil
	}
	if st == kservice.StatusRunning && r.AlreadyInstalled {
		r.Started = true
		return r, nil
	}
	if err := m.ctl.Start(); err != nil {
		return r, fmt.Errorf("start service: %w", err)
	}
	r.Started = true
	return r, nil
}

func (m *Manager) enrollOnce(ctx context.Context, e Enroller, p Preseed, timeout time.Duration) (bool, error) {
	ok, err := e.Enrolled()
	if err != nil {
		return false, fmt.Errorf("check enrollment: %w", err)
	}
	if ok {
		return true, nil
	}
	if !p.CanEnroll() {
		return false, errors.New("no hub URL, fingerprint and token given (pass --hub, --fingerprint and --token)")
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := e.Enroll(ctx, p); err != nil {
		return false, err
	}
	if err := eraseToken(m.preseed); err != nil {
		m.log.Warn("Enrolled, but the token stays in the preseed", "where", m.preseed.String(), "err", err)
	}
	return true, nil
}

// eraseToken removes the used enrollment token from the store.
func eraseToken(s preseedStore) error {
	p, err := s.Load()
	if err != nil || p.EnrollToken == "" {
		return err
	}
	p.EnrollToken = ""
	return s.Save(p)
}

// UninstallReport says what Uninstall found and did.
type UninstallReport struct {
	WasInstalled bool
	Purged       []string // paths and keys removed by Purge
}

// ErrOtherVersion: Uninstall was asked to act for one version while another
// is installed (the MSI's uninstall action during an upgrade).
var ErrOtherVersion = errors.New("another version is installed")

// UninstallRequest says what Uninstall removes.
type UninstallRequest struct {
	// Purge also removes the configuration, the state, quarantine and data
	// directories and the preseed.
	Purge bool
	// OnlyVersion, when set, makes Uninstall do nothing and return
	// ErrOtherVersion if the version the MSI recorded
	// (HKLM\SOFTWARE\Carrel\Version) is another one: the old package's
	// uninstall action then runs inside an upgrade, and the new version's
	// service and state must stay.
	OnlyVersion string
	// PackageOwnsService leaves the service registration alone (the .deb's
	// unit belongs to dpkg): only cleanup and purge.
	PackageOwnsService bool
}

// Uninstall stops and unregisters the service, takes away what the agent put
// on the system (Options.Cleanup) and, with Purge, its files. Running it again
// is harmless.
func (m *Manager) Uninstall(ctx context.Context, req UninstallRequest) (UninstallReport, error) {
	var r UninstallReport
	if err := m.isAdmin(); err != nil {
		return r, err
	}
	if req.OnlyVersion != "" {
		if v, err := installedVersion(); err == nil && v != "" && v != req.OnlyVersion {
			return r, fmt.Errorf("%w (%s, not %s): leaving it alone", ErrOtherVersion, v, req.OnlyVersion)
		}
	}
	if !req.PackageOwnsService {
		if err := m.unregister(&r); err != nil {
			return r, err
		}
	}
	var cleanupErr error
	if m.cleanup != nil {
		if err := m.cleanup(ctx); err != nil {
			cleanupErr = fmt.Errorf("clean up: %w", err)
		} else {
			removeEmptyDirs(m.paths.PolicyDirs)
		}
	}
	if req.Purge {
		if err := m.purge(ctx, &r); err != nil {
			return r, err
		}
	}
	return r, cleanupErr
}

func (m *Manager) unregister(r *UninstallReport) error {
	st, err := m.ctl.Status()
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
		m.log.Info("Service not registered", "name", Name)
	case err != nil:
		return fmt.Errorf("query service: %w", err)
	default:
		r.WasInstalled = true
		if st == kservice.StatusRunning {
			if err := m.ctl.Stop(); err != nil {
				return fmt.Errorf("stop service: %w", err)
			}
		}
		if err := m.ctl.Uninstall(); err != nil {
			return fmt.Errorf("unregister service: %w", err)
		}
		m.log.Info("Service unregistered", "name", Name)
		if err := removeLogSource(); err != nil {
			m.log.Warn("Event log source not removed", "source", Name, "err", err)
		}
	}
	return nil
}

func (m *Manager) purge(ctx context.Context, r *UninstallReport) error {
	confDir := filepath.Dir(m.paths.Config)
	for _, p := range []string{m.paths.QuarantineDir, m.paths.StateDir, m.paths.DataDir, m.paths.Config,
		filepath.Join(confDir, "agent.log"), filepath.Join(confDir, "agent.log.1")} {
		if p == "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		removed, err := removeTree(p)
		if err != nil {
			return fmt.Errorf("purge %s: %w", p, err)
		}
		if removed {
			r.Purged = append(r.Purged, p)
		}
	}
	if p, err := m.preseed.Load(); err == nil && !p.Empty() || err != nil {
		r.Purged = append(r.Purged, m.preseed.String())
	}
	if err := m.preseed.Remove(); err != nil {
		return fmt.Errorf("purge preseed %s: %w", m.preseed, err)
	}
	// The configuration directory goes too if nothing else is left in it.
	if dir := filepath.Dir(m.paths.Config); dir != filepath.Dir(dir) {
		if err := os.Remove(dir); err == nil {
			r.Purged = append(r.Purged, dir)
		}
	}
	return nil
}

// Start starts the installed service.
func (m *Manager) Start() error { return m.control("start", m.ctl.Start) }

// Stop stops the service.
func (m *Manager) Stop() error { return m.control("stop", m.ctl.Stop) }

// Restart stops and starts the service.
func (m *Manager) Restart() error { return m.control("restart", m.ctl.Restart) }

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

const (
	StateNotInstalled State = "not-installed"
	StateRunning      State = "running"
	StateStopped      State = "stopped"
	StateUnknown      State = "unknown"
)

// StatusReport is what `carrel-agent status` prints.
type StatusReport struct {
	State    State
	Enrolled bool
	// Pending is set when the agent is not enrolled but a preseed with a token
	// is waiting: the service keeps trying.
	Pending bool
	Preseed string // where the preseed lives
}

// Status queries the service and, with e, the enrollment. It needs no rights
// beyond reading the preseed (which may need them; then Pending stays false).
func (m *Manager) Status(e Enroller) (StatusReport, error) {
	r := StatusReport{Preseed: m.preseed.String()}
	st, err := m.ctl.Status()
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
		r.State = StateNotInstalled
	case err != nil:
		return r, fmt.Errorf("query service: %w", err)
	case st == kservice.StatusRunning:
		r.State = StateRunning
	case st == kservice.StatusStopped:
		r.State = StateStopped
	default:
		r.State = StateUnknown
	}
	if e != nil {
		ok, err := e.Enrolled()
		if err != nil {
			return r, fmt.Errorf("check enrollment: %w", err)
		}
		r.Enrolled = ok
	}
	if !r.Enrolled {
		if p, err := m.preseed.Load(); err == nil && p.CanEnroll() {
			r.Pending = true
		}
	}
	return r, nil
}

// writePlaceholderConfig writes a configuration file holding only comments:
// every setting keeps its documented default.
func writePlaceholderConfig(path string, _ Preseed) error {
	const text = "# Carrel agent configuration. Every setting has a documented default;\n" +
		"# the hub address comes from enrollment (see the preseed).\n"
	return writeFileAtomic(path, []byte(text), 0o644)
}

// writeFileAtomic creates path's directory and replaces path (atomicfile).
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, mode)
}

// removeEmptyDirs removes each directory that is empty, in order; others stay.
func removeEmptyDirs(dirs []string) {
	for _, d := range dirs {
		os.Remove(d) // fails, harmlessly, on a directory that is not empty
	}
}

// removeTree removes path and everything below it without following links. It
// walks by hand because os.RemoveAll fails under Wine. It reports whether
// anything was there.
func removeTree(path string) (bool, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return true, err
		}
		for _, e := range entries {
			if _, err := removeTree(filepath.Join(path, e.Name())); err != nil {
				return true, err
			}
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return true, err
	}
	return true, nil
}

// PreseedLocation says where the preseed is stored, for messages.
func (m *Manager) PreseedLocation() string { return m.preseed.String() }
