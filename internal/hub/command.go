package hub

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
	"github.com/carrel-kiosk/carrel/internal/wsserve"
)

// SendCommand sends a staff command to a terminal (ID or unique name) and waits
// for its Result, ctx, or the command's expiry (Config.CommandTTL). The command is
// stored and audited before it is sent, and its outcome after; a command to an
// offline terminal fails with ErrOffline and is audited too. A Result with OK
// false is returned with a nil error: the agent answered.
func (h *Hub) SendCommand(ctx context.Context, terminal string, action protocol.Action, args map[string]string, issuedBy string) (protocol.Result, error) {
	t, err := h.store.FindTerminal(ctx, terminal)
	if err != nil {
		return protocol.Result{}, fmt.Errorf("send command: %w", err)
	}
	now := time.Now().UTC()
	cmd := &protocol.Command{ID: randomID("c-"), Terminal: t.ID, Action: action, Args: args, IssuedBy: issuedBy,
		IssuedAt: now, ExpiresAt: now.Add(h.cfg.CommandTTL)}
	if err := h.store.AddCommand(ctx, store.Command{ID: cmd.ID, Terminal: t.ID, Action: string(action), Args: args,
		IssuedBy: issuedBy, IssuedAt: now, ExpiresAt: cmd.ExpiresAt}); err != nil {
		return protocol.Result{}, err
	}
	fail := func(err error) (protocol.Result, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if ferr := h.store.FinishCommand(fctx, cmd.ID, false, err.Error()); ferr != nil {
			h.log.Error("Store command outcome failed", "command", cmd.ID, "err", ferr)
		}
		return protocol.Result{}, err
	}
	if !action.Known() {
		return fail(fmt.Errorf("send command: unknown action %q", action))
	}
	if t.Revoked() {
		return fail(fmt.Errorf("send command to %s (%s): terminal is revoked", t.Name, t.ID))
	}
	frame, err := protocol.Encode(cmd)
	if err != nil {
		return fail(fmt.Errorf("send command: %w", err))
	}
	p := &pendingCmd{terminal: t.ID, ch: make(chan protocol.Result, 1)}
	h.mu.Lock()
	c := h.conns[t.ID]
	if c != nil {
		h.pending[cmd.ID] = p
	}
	h.mu.Unlock()
	if c == nil {
		return fail(fmt.Errorf("send command to %s (%s): %w", t.Name, t.ID, ErrOffline))
	}
	defer func() {
		h.mu.Lock()
		delete(h.pending, cmd.ID)
		h.mu.Unlock()
	}()
	if !c.enqueue(frame) {
		return fail(fmt.Errorf("send command to %s (%s): connection dropped", t.Name, t.ID))
	}
	expiry := time.NewTimer(time.Until(cmd.ExpiresAt))
	defer expiry.Stop()
	select {
	case res := <-p.ch:
		msg := res.Output
		if !res.OK {
			msg = res.Error
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := h.store.FinishCommand(fctx, cmd.ID, res.OK, msg); err != nil {
			h.log.Error("Store command outcome failed", "command", cmd.ID, "err", err)
		}
		if res.OK && (action == protocol.ActionLock || action == protocol.ActionUnlock) {
			if err := h.store.SetLocked(fctx, t.ID, action == protocol.ActionLock); err != nil {
				h.log.Error("Store lock state failed", "terminal", t.ID, "err", err)
			}
			h.live.setLocked(t.ID, action == protocol.ActionLock)
			h.changed(t.ID)
		}
		return res, nil
	case <-c.Done():
		return fail(fmt.Errorf("send command to %s (%s): disconnected before answering", t.Name, t.ID))
	case <-expiry.C:
		return fail(fmt.Errorf("send command to %s (%s): no answer before the command expired", t.Name, t.ID))
	case <-ctx.Done():
		return fail(fmt.Errorf("send command to %s (%s): %w", t.Name, t.ID, ctx.Err()))
	}
}

// deliverResult hands a Result to the SendCommand waiting for it, if the command
// was sent to this terminal.
func (h *Hub) deliverResult(terminal string, r *protocol.Result) {
	h.mu.Lock()
	p := h.pending[r.ID]
	h.mu.Unlock()
	if p == nil || p.terminal != terminal {
		h.log.Debug("Result for no waiting command", "terminal", terminal, "command", r.ID)
		return
	}
	select {
	case p.ch <- *r:
	default: // a second answer to the same command
	}
}

// Revoke revokes a terminal (ID or unique name) and drops its live connection at
// once.
func (h *Hub) Revoke(ctx context.Context, terminal, actor string) (store.Terminal, error) {
	t, err := h.store.FindTerminal(ctx, terminal)
	if err != nil {
		return t, fmt.Errorf("revoke: %w", err)
	}
	if err := h.store.Revoke(ctx, t.ID, actor); err != nil {
		return t, err
	}
	h.live.revoked(t.ID)
	h.changed(t.ID)
	h.mu.Lock()
	c := h.conns[t.ID]
	h.mu.Unlock()
	if c != nil {
		c.Close(wsserve.ClosePolicyViolation, "certificate revoked")
	}
	h.log.Info("Terminal revoked", "terminal", t.ID, "name", t.Name, "by", actor)
	return t, nil
}

// SetBranch moves a terminal (ID or name) to a branch, "" for none, audited;
// consoles see the move at once.
func (h *Hub) SetBranch(ctx context.Context, terminal, branch, actor string) (store.Terminal, error) {
	t, err := h.store.FindTerminal(ctx, terminal)
	if err != nil {
		return t, fmt.Errorf("set branch: %w", err)
	}
	if err := h.store.SetBranch(ctx, t.ID, branch, actor); err != nil {
		return t, err
	}
	t.Branch = branch
	h.live.setBranch(t.ID, branch)
	h.changed(t.ID)
	h.log.Info("Terminal moved to a branch", "terminal", t.ID, "branch", branch, "by", actor)
	return t, nil
}

// AgentURL is the wss:// URL agents dial: Config.HubURL, else the first server
// name and the listening port. Without a public name (PublicName) that name is
// localhost, which only this machine can reach.
func (h *Hub) AgentURL() string {
	if h.cfg.HubURL != "" {
		return h.cfg.HubURL
	}
	port := "8443"
	if _, p, err := net.SplitHostPort(h.ln.Addr().String()); err == nil {
		port = p
	}
	host := "localhost"
	if names := pki.ServerNames(h.cfg.Names); len(names) > 0 {
		host = names[0]
	}
	return "wss://" + net.JoinHostPort(host, port)
}

// PublicName is the name the library's PCs reach this hub by: the host of
// Config.HubURL, else the first of Config.Names that is not a loopback name.
// It is "" when the hub was given none (carrel-hub serve without --name):
// enrollment lines then name localhost, and the console says so.
func (h *Hub) PublicName() string { return publicName(h.cfg.HubURL, h.cfg.Names) }

func publicName(hubURL string, names []string) string {
	if hubURL != "" {
		if u, err := url.Parse(hubURL); err == nil && u.Hostname() != "" && !loopbackName(u.Hostname()) {
			return u.Hostname()
		}
	}
	for _, n := range names {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" && !loopbackName(n) {
			return n
		}
	}
	return ""
}

// loopbackName reports whether name reaches only the machine it is used on.
func loopbackName(name string) bool {
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(name, "[]"))
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// SetupCode is the waiting one-time setup code of the staff API, or "" once a
// staff account exists.
func (h *Hub) SetupCode() string { return h.staff.SetupCode() }
