package hub

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// WakeCheck is how long a woken PC has to come online before the hub logs
// and audits that it did not wake.
const WakeCheck = 5 * time.Minute

// Wake wakes terminals (IDs or names) by Wake-on-LAN: for each subnet the
// offline ones were last seen on, an online PC with an address there sends
// the magic packets (ActionWake, audited like any command); when it fails the
// next one is tried, and when none is awake on that subnet the result says so.
// A woken PC that is not online within WakeCheck is logged and audited as not
// woken.
func (h *Hub) Wake(ctx context.Context, terminals []string, actor string) ([]protocol.WakeResult, error) {
	if len(terminals) == 0 || len(terminals) > protocol.MaxWake {
		return nil, fmt.Errorf("wake: name 1 to %d PCs", protocol.MaxWake)
	}
	all, err := h.Terminals(ctx)
	if err != nil {
		return nil, err
	}
	type target struct {
		view protocol.TerminalView
		res  *protocol.WakeResult
	}
	results := make([]protocol.WakeResult, 0, len(terminals))
	bySubnet := map[netip.Prefix][]target{}
	for _, name := range terminals {
		st, err := h.store.FindTerminal(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("wake: %w", err)
		}
		var v protocol.TerminalView
		for _, x := range all {
			if x.ID == st.ID {
				v = x
			}
		}
		results = append(results, protocol.WakeResult{Terminal: st.ID, Name: st.Name})
		r := &results[len(results)-1]
		switch {
		case v.Online:
			r.Outcome = protocol.WakeAlreadyOn
			continue
		case v.Status == nil || len(v.Status.NICs) == 0:
			r.Outcome = protocol.WakeNoMAC
			continue
		}
		n := v.Status.NICs[0]
		sub, err := n.Subnet()
		if err != nil {
			r.Outcome = protocol.WakeNoMAC
			continue
		}
		r.Subnet = sub.String()
		bySubnet[sub] = append(bySubnet[sub], target{v, r})
	}
	subnets := make([]netip.Prefix, 0, len(bySubnet))
	for s := range bySubnet {
		subnets = append(subnets, s)
	}
	sort.Slice(subnets, func(i, j int) bool { return subnets[i].String() < subnets[j].String() })
	for _, sub := range subnets {
		ts := bySubnet[sub]
		var macs []string
		for _, t := range ts {
			for _, n := range t.view.Status.NICs {
				if s, err := n.Subnet(); err == nil && s == sub {
					macs = append(macs, n.MAC)
				}
			}
		}
		relays := relaysOn(all, sub)
		outcome := protocol.WakeNoRelay
		relay := ""
		var failures []string
		for _, rl := range relays {
			res, err := h.SendCommand(ctx, rl.ID, protocol.ActionWake,
				map[string]string{protocol.ArgMACs: strings.Join(macs, ","), protocol.ArgSubnet: sub.String()}, actor)
			if err == nil && res.OK {
				outcome, relay = protocol.WakeSent, rl.Name
				break
			}
			why := res.Error
			if err != nil {
				why = err.Error()
			}
			failures = append(failures, rl.Name+": "+why)
		}
		if outcome != protocol.WakeSent && len(failures) > 0 {
			outcome = "failed: " + protocol.Clip(strings.Join(failures, "; "), 300)
		}
		for _, t := range ts {
			t.res.Outcome, t.res.Relay = outcome, relay
			if outcome == protocol.WakeSent {
				h.watchWake(t.view.ID, t.view.Name, actor)
			}
		}
	}
	return results, nil
}

// relaysOn lists the online PCs with an address in sub, PCs without a patron
// first (their user is not slowed), then by name.
func relaysOn(all []protocol.TerminalView, sub netip.Prefix) []protocol.TerminalView {
	var out []protocol.TerminalView
	for _, v := range all {
		if !v.Online || v.Revoked || v.Status == nil {
			continue
		}
		for _, n := range v.Status.NICs {
			if s, err := n.Subnet(); err == nil && s == sub {
				out = append(out, v)
				break
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		bi, bj := out[i].Status.Session == protocol.SessionInUse, out[j].Status.Session == protocol.SessionInUse
		if bi != bj {
			return !bi
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// wakeWatch is a woken PC the hub expects online by a deadline.
type wakeWatch struct {
	name, actor string
	by          time.Time
}

// watchWake records that a woken PC must be online within Config.WakeCheck.
func (h *Hub) watchWake(id, name, actor string) {
	h.wakeMu.Lock()
	if h.wakes == nil {
		h.wakes = map[string]wakeWatch{}
	}
	h.wakes[id] = wakeWatch{name: name, actor: actor, by: time.Now().Add(h.cfg.WakeCheck)}
	h.wakeMu.Unlock()
}

// everyTick calls f with each tick's time, every d, until ctx ends: the
// loops of the hub's periodic checks (wake deadlines, maintenance windows).
func everyTick(ctx context.Context, d time.Duration, f func(context.Context, time.Time)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f(ctx, now)
		}
	}
}

// checkWakes logs and audits every woken PC not online by its deadline, and
// forgets those that came online.
func (h *Hub) checkWakes(ctx context.Context, now time.Time) {
	h.wakeMu.Lock()
	var late map[string]wakeWatch
	for id, w := range h.wakes {
		if v, ok := h.live.get(id); ok && v.Online {
			delete(h.wakes, id)
			continue
		}
		if now.After(w.by) {
			if late == nil {
				late = map[string]wakeWatch{}
			}
			late[id] = w
			delete(h.wakes, id)
		}
	}
	h.wakeMu.Unlock()
	for id, w := range late {
		h.log.Warn("PC did not wake", "terminal", id, "name", w.name, "within", h.cfg.WakeCheck.String())
		if err := h.store.Audit(ctx, "hub", protocol.AuditPowerNoWake, id, map[string]string{protocol.AuditKeyName: w.name,
			protocol.AuditKeyResult: "not online " + h.cfg.WakeCheck.String() + " after Wake-on-LAN sent for " + w.actor}); err != nil {
			h.log.Error("Audit failed", "err", err)
		}
	}
}
