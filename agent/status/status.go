// Package status collects what the agent reports about its PC into a
// protocol.Status: host name, OS and version, architecture, boot time, CPU,
// memory, the system volume's disk use, the agent's version, start time and
// restarts since install, and the state other components set (lock, policy
// version, last wipe, certificate expiry).
//
// It never records what a patron does: no process list, no window titles, no
// URLs. Collection is cheap (a few microseconds plus one cached host lookup at
// start); the agent's link collects on each nudge (every setter nudges) and at
// the full status interval.
//
// The session state comes from a SessionSource: the agent sets the seat's
// session manager; with the seat disabled it is UnknownSession ("unknown").
package status

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/disk"
	"github.com/shirou/gopsutil/v3/host"
	"github.com/shirou/gopsutil/v3/mem"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// ErrNotImplemented is returned by the per-OS parts on an unsupported platform.
var ErrNotImplemented = fmt.Errorf("status: not implemented on this platform: %w", errors.ErrUnsupported)

// SessionSource tells what the patron seat is doing. Session must be cheap,
// non-blocking and safe for concurrent use; it is called on every collection.
type SessionSource interface {
	Session() (state protocol.SessionState, since time.Time)
}

// UnknownSession is the SessionSource used until a session watcher is wired: it
// always reports SessionUnknown.
type UnknownSession struct{}

// Session reports unknown.
func (UnknownSession) Session() (protocol.SessionState, time.Time) {
	return protocol.SessionUnknown, time.Time{}
}

// Options configure a Collector.
type Options struct {
	AgentVersion string
	Started      time.Time // when this agent process started
	Restarts     int       // from CountStart
	Session      SessionSource
	// Dropped reports the outbox's overflow count; nil reports 0.
	Dropped func() uint64
	Log     *slog.Logger
}

// Collector builds Status values. It is safe for concurrent use.
type Collector struct {
	opt    Options
	log    *slog.Logger
	static protocol.Status // fields read once at start
	volume string

	mu      sync.Mutex // guards set, session and warned
	set     protocol.Status
	session SessionSource
	warned  map[string]bool
	nudge   chan struct{} // capacity 1: Nudge
}

var _ SessionSource = UnknownSession{}

// New reads the static facts of the host (OS, version, boot time) once.
func New(ctx context.Context, opt Options) *Collector {
	if opt.Session == nil {
		opt.Session = UnknownSession{}
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	c := &Collector{opt: opt, log: opt.Log, session: opt.Session, warned: map[string]bool{}, nudge: make(chan struct{}, 1)}
	c.static = protocol.Status{OS: runtime.GOOS, Arch: runtime.GOARCH, AgentVersion: opt.AgentVersion}
	if info, err := host.InfoWithContext(ctx); err != nil {
		c.log.Warn("Host information unavailable", "err", err)
	} else {
		c.static.OSVersion = protocol.Clip(strings.TrimSpace(info.Platform+" "+info.PlatformVersion), protocol.MaxShortString)
		if info.BootTime > 0 {
			c.static.BootTime = time.Unix(int64(info.BootTime), 0).UTC()
		}
	}
	// Prime the CPU counter: cpu.Percent(0) measures since the previous call.
	cpu.PercentWithContext(ctx, 0, false)
	vol, err := systemVolume()
	if err != nil {
		c.log.Warn("System volume unknown", "err", err)
	}
	c.volume = vol
	return c
}

// SetSessionSource replaces the session source (the session watcher, once it
// runs); nil restores UnknownSession.
func (c *Collector) SetSessionSource(src SessionSource) {
	if src == nil {
		src = UnknownSession{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.session = src
}

// SetLocked records the lock state the agent enforces.
func (c *Collector) SetLocked(locked bool) { c.update(func(s *protocol.Status) { s.Locked = locked }) }

// SetPolicyVersion records the policy version applied.
func (c *Collector) SetPolicyVersion(v string) {
	c.update(func(s *protocol.Status) { s.PolicyVersion = protocol.Clip(v, protocol.MaxShortString) })
}

// SetLastWipe records a one-line result of the last wipe, e.g. "clean 412ms".
func (c *Collector) SetLastWipe(v string) {
	c.update(func(s *protocol.Status) { s.LastWipe = protocol.Clip(v, protocol.MaxShortString) })
}

// SetProof records the last self-test's summary (agent/selftest).
func (c *Collector) SetProof(p protocol.SelfTestSummary) {
	p.Failed, p.NotTestable = slices.Clone(p.Failed), slices.Clone(p.NotTestable)
	c.update(func(s *protocol.Status) { s.Proof = &p })
}

// SetPatron records the signed-in patron session (nil: none).
func (c *Collector) SetPatron(p *protocol.PatronView) {
	c.update(func(s *protocol.Status) {
		if p != nil {
			cp := *p
			p = &cp
		}
		s.Patron = p
	})
}

// SetCertExpires records when the agent's certificate expires.
func (c *Collector) SetCertExpires(t time.Time) {
	c.update(func(s *protocol.Status) { s.CertExpires = t.UTC() })
}

func (c *Collector) update(f func(*protocol.Status)) {
	c.mu.Lock()
	f(&c.set)
	c.mu.Unlock()
	c.Nudge()
}

// Nudge says the status may have changed (a setter, or a session source whose
// state moved); Nudged receives it, coalesced, never blocking the caller.
func (c *Collector) Nudge() {
	select {
	case c.nudge <- struct{}{}:
	default:
	}
}

// Nudged is the channel Nudge signals (the link's StatusNudge).
func (c *Collector) Nudged() <-chan struct{} { return c.nudge }

// Collect returns the current status. Parts that cannot be read are left zero
// (and logged once); the result always passes protocol validation.
func (c *Collector) Collect(ctx context.Context) protocol.Status {
	s := c.static
	s.AgentStarted = c.opt.Started.UTC()
	s.Restarts = c.opt.Restarts
	if h, err := os.Hostname(); err == nil && h != "" {
		s.Hostname = protocol.Clip(h, protocol.MaxShortString)
	} else {
		s.Hostname = "unknown"
	}
	if p, err := cpu.PercentWithContext(ctx, 0, false); err == nil && len(p) == 1 && p[0] >= 0 && p[0] <= 100 {
		s.CPUPercent = p[0]
	} else if err != nil {
		c.warnOnce("cpu", err)
	}
	if m, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		s.MemUsed, s.MemTotal = m.Used, m.Total
	} else {
		c.warnOnce("mem", err)
	}
	if c.volume != "" {
		if d, err := disk.UsageWithContext(ctx, c.volume); err == nil {
			s.DiskUsed, s.DiskTotal = d.Used, d.Total
		} else {
			c.warnOnce("disk", err)
		}
	}
	c.mu.Lock()
	src := c.session
	c.mu.Unlock()
	s.Session, s.SessionSince = src.Session()
	if s.Session == "" {
		s.Session = protocol.SessionUnknown
	}
	if !s.SessionSince.IsZero() {
		s.SessionSince = s.SessionSince.UTC()
	}
	if c.opt.Dropped != nil {
		s.OutboxDropped = c.opt.Dropped()
	}
	s.NICs = NICs()
	c.mu.Lock()
	s.Locked, s.PolicyVersion, s.LastWipe, s.CertExpires = c.set.Locked, c.set.PolicyVersion, c.set.LastWipe, c.set.CertExpires
	s.Proof = c.set.Proof // replaced by SetProof, never changed in place
	if c.set.Patron != nil {
		p := *c.set.Patron
		s.Patron = &p
	}
	c.mu.Unlock()
	return s
}

func (c *Collector) warnOnce(part string, err error) {
	c.mu.Lock()
	first := !c.warned[part]
	c.warned[part] = true
	c.mu.Unlock()
	if first {
		c.log.Warn("Status part unavailable", "part", part, "err", err)
	} else {
		c.log.Debug("Status part unavailable", "part", part, "err", err)
	}
}

// Changed reports whether cur differs from prev in something staff would want to
// see at once (session, lock, policy, wipe result, drops, certificate, identity),
// as opposed to the gauges (CPU, memory, disk) that change all the time and go
// out with the periodic status.
func Changed(prev, cur protocol.Status) bool {
	return prev.Session != cur.Session || !prev.SessionSince.Equal(cur.SessionSince) ||
		prev.Locked != cur.Locked || prev.PolicyVersion != cur.PolicyVersion ||
		prev.LastWipe != cur.LastWipe || prev.OutboxDropped != cur.OutboxDropped ||
		!prev.CertExpires.Equal(cur.CertExpires) || prev.Hostname != cur.Hostname ||
		prev.AgentVersion != cur.AgentVersion || prev.Restarts != cur.Restarts ||
		!slices.Equal(prev.NICs, cur.NICs) || !sameProof(prev.Proof, cur.Proof) ||
		!samePatron(prev.Patron, cur.Patron)
}

// NICs lists the up, non-loopback interfaces that have a MAC and an IPv4
// address, at most protocol.MaxNICs, for Wake-on-LAN. Virtual ones a PC
// cannot be woken through (bridges and tunnels have no MAC, or a locally
// administered one) are left out.
func NICs() []protocol.NIC {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []protocol.NIC
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || len(ifc.HardwareAddr) != 6 ||
			ifc.HardwareAddr[0]&0x02 != 0 { // locally administered: a VM's or a container's
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil {
				continue
			}
			ones, _ := ipn.Mask.Size()
			out = append(out, protocol.NIC{MAC: ifc.HardwareAddr.String(), CIDR: fmt.Sprintf("%s/%d", ipn.IP.To4(), ones)})
			if len(out) == protocol.MaxNICs {
				return out
			}
			break // one address per interface is enough to find its subnet
		}
	}
	return out
}

func sameProof(a, b *protocol.SelfTestSummary) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Time.Equal(b.Time) && a.Passed == b.Passed && slices.Equal(a.Failed, b.Failed) && slices.Equal(a.NotTestable, b.NotTestable)
}

// samePatron reports whether two patron sessions are the same one with the
// same end (to the second).
func samePatron(a, b *protocol.PatronView) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Grant == b.Grant && a.Kind == b.Kind && a.Patron == b.Patron && a.Ends.Unix() == b.Ends.Unix()
}

// CountStart adds one to the agent-start counter kept in stateDir and returns
// the restarts since install (starts minus one). An unreadable counter restarts
// from the file's absence rather than stopping the agent.
func CountStart(stateDir string) (restarts int, err error) {
	path := filepath.Join(stateDir, "starts")
	n := 0
	if b, err := os.ReadFile(path); err == nil {
		if v, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && v >= 0 {
			n = v
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("read start counter: %w", err)
	}
	n++
	if err := atomicfile.WriteFile(path, []byte(strconv.Itoa(n)+"\n"), 0o600); err != nil {
		return 0, fmt.Errorf("write start counter: %w", err)
	}
	return n - 1, nil
}

// SetMaintenanceUntil sets the end of the maintenance window the PC is in
// (zero: armed).
func (c *Collector) SetMaintenanceUntil(t time.Time) {
	c.update(func(s *protocol.Status) { s.MaintenanceUntil = t })
}
