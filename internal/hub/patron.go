package hub

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
	"github.com/carrel-kiosk/carrel/internal/patron"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/sip2"
)

// GrantKeyFile holds the hub's Ed25519 key that signs patron grants, in the
// data directory (0600). Agents get its public half in Welcome.GrantKey and
// check a saved grant with it after a restart; a new key (the file deleted)
// makes the grants of running sessions unverifiable to a restarted agent, so
// keep it with the CA's key.
const GrantKeyFile = "grant.key"

const grantKeyPrefix = "carrel grant key v1 "

// loadOrCreateGrantKey reads the grant key at path, or makes one.
func loadOrCreateGrantKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		line, ok := strings.CutPrefix(strings.TrimSpace(string(b)), grantKeyPrefix)
		seed, herr := hex.DecodeString(line)
		if !ok || herr != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("read %s: not a grant key file (restore it from a backup; deleted, a new one is made and running sessions' grants no longer verify)", path)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read grant key: %w", err)
	}
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	if err := atomicfile.WriteFile(path, []byte(grantKeyPrefix+hex.EncodeToString(seed)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write grant key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// grantKeyText is the public grant key as Welcome carries it.
func grantKeyText(k ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
}

// GrantKey is the public key agents verify grants with.
func (h *Hub) GrantKey() ed25519.PublicKey { return h.grantKey.Public().(ed25519.PublicKey) }

// newPatron makes the sign-in service, with its SIP2 client when the hub has
// an ILS.
func (h *Hub) newPatron() error {
	count := h.cfg.PatronCount
	if count == nil {
		count = h.Count // sign-ins, refusals and guest passes into the usage counters
	}
	pc := patron.Config{Store: h.store, Key: h.grantKey, Log: h.log, Count: count, Location: h.cfg.PatronLocation}
	if s := h.cfg.SIP2; s != nil {
		c := *s
		if c.Log == nil {
			c.Log = h.log
		}
		cli, err := sip2.New(c)
		if err != nil {
			return fmt.Errorf("ILS: %w", err)
		}
		h.ils = cli
		pc.ILS, pc.ILSAddr, pc.ILSProfile = cli, c.Addr, c.Profile.Name
		if pc.ILSProfile == "" {
			pc.ILSProfile = sip2.ProfileGeneric
		}
		if c.Timeout > 0 {
			pc.Timeout = c.Timeout + time.Second
		}
	}
	svc, err := patron.New(pc)
	if err != nil {
		return err
	}
	h.patron = svc
	h.signSem = make(chan struct{}, h.cfg.SignInConcurrency)
	return nil
}

// Patron is the hub's sign-in service.
func (h *Hub) Patron() *patron.Service { return h.patron }

// ILSLink is the state of the link to the library's ILS: up, down (card
// sign-in refused until it answers), not configured, or not asked yet. It is
// what a readiness check and the console's ILS light read.
func (h *Hub) ILSLink() protocol.ILSLink { return h.patron.ILS() }

// signIn answers a SignIn off the connection's reader: one sign-in in flight
// per connection (a PC has one sign-in screen; a second while one runs is
// refused at once), at most Config.SignInConcurrency in the whole hub.
func (h *Hub) signIn(c *agentConn, m *protocol.SignIn) {
	if !c.signing.CompareAndSwap(false, true) {
		h.answer(c, protocol.SignInAnswer{ID: m.ID, Refusal: protocol.RefuseError})
		return
	}
	req := *m
	h.patronWG.Add(1)
	go func() {
		defer h.patronWG.Done()
		select {
		case h.signSem <- struct{}{}:
		case <-c.Done():
			c.signing.Store(false)
			return
		}
		a := h.answerSignIn(c, req)
		<-h.signSem
		// Free before the answer goes: the agent may ask again as soon as
		// it has it.
		c.signing.Store(false)
		h.answer(c, a)
		if a.Grant != nil {
			h.staff.Changed(c.id)
		}
	}()
}

func (h *Hub) answerSignIn(c *agentConn, req protocol.SignIn) protocol.SignInAnswer {
	if view, ok := h.live.get(c.id); ok && view.Status != nil && view.Status.Locked {
		return protocol.SignInAnswer{ID: req.ID, Refusal: protocol.RefuseNotFree}
	}
	branch := c.term.Branch
	if t, err := h.store.Terminal(c.ctx, c.id); err == nil {
		branch = t.Branch // moved since it connected
	}
	return h.patron.SignIn(c.ctx, c.id, branch, req)
}

func (h *Hub) answer(c *agentConn, a protocol.SignInAnswer) {
	frame, err := protocol.Encode(&a)
	if err != nil {
		h.log.Error("Sign-in answer not encodable", "terminal", c.id, "err", err)
		return
	}
	c.enqueue(frame)
}

// sessionEnded settles a patron session its PC reported ended, off the
// connection's reader.
func (h *Hub) sessionEnded(c *agentConn, data map[string]string) {
	if data[protocol.DataGrant] == "" {
		return
	}
	d := make(map[string]string, 2)
	for _, k := range []string{protocol.DataGrant, protocol.DataUsed} {
		d[k] = data[k]
	}
	h.patronWG.Add(1)
	go func() {
		defer h.patronWG.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 10*time.Second)
		defer cancel()
		if err := h.patron.Ended(ctx, c.id, d); err != nil {
			h.log.Error("Patron session not settled", "terminal", c.id, "grant", d[protocol.DataGrant], "err", err)
		}
	}()
}

// AddTime adds (or, negative, removes) minutes of the patron session running
// at terminal, audited by actor, and sends the agent the new signed grant.
func (h *Hub) AddTime(ctx context.Context, terminal string, minutes int, actor string) (protocol.Grant, error) {
	t, err := h.store.FindTerminal(ctx, terminal)
	if err != nil {
		return protocol.Grant{}, err
	}
	g, err := h.patron.AddTime(ctx, t.ID, t.Branch, minutes, actor)
	if err != nil {
		return protocol.Grant{}, err
	}
	if frame, err := protocol.Encode(&protocol.GrantUpdate{Grant: g}); err == nil {
		h.mu.Lock()
		c := h.conns[t.ID]
		h.mu.Unlock()
		if c != nil {
			c.enqueue(frame)
		} else {
			h.log.Info("Grant changed while its PC is offline; it gets the new end when it asks", "terminal", t.ID, "grant", g.ID)
		}
	}
	h.staff.Changed(t.ID)
	return g, nil
}

// patronChecks asks the ILS for its status every ILSCheckEvery, so that the
// console's ILS light is true between sign-ins, and runs the patron service's
// housekeeping every hour (a day's pseudonym key goes within the hour after
// midnight).
func (h *Hub) patronChecks(ctx context.Context) {
	h.patron.CheckILS(ctx)
	ils := time.NewTicker(h.cfg.ILSCheckEvery)
	defer ils.Stop()
	house := time.NewTicker(time.Hour)
	defer house.Stop()
	h.patronHousekeeping(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ils.C:
			h.patron.CheckILS(ctx)
		case <-house.C:
			h.patronHousekeeping(ctx)
		}
	}
}

func (h *Hub) patronHousekeeping(ctx context.Context) {
	if err := h.patron.Housekeeping(ctx); err != nil && ctx.Err() == nil {
		h.log.Error("Patron housekeeping failed", "err", err)
	}
}

// PatronSession is the patron session running at terminal (ID or name) and
// its branch's rules; a nil Grant when no patron is signed in.
func (h *Hub) PatronSession(ctx context.Context, terminal string) (protocol.SessionView, error) {
	t, err := h.store.FindTerminal(ctx, terminal)
	if err != nil {
		return protocol.SessionView{}, err
	}
	v := protocol.SessionView{Branch: t.Branch}
	if v.Rules, err = h.patron.Rules(ctx, t.Branch); err != nil {
		return v, err
	}
	switch g, err := h.patron.Session(ctx, t.ID); {
	case err == nil:
		v.Grant = &g
	case !errors.Is(err, patron.ErrNoSession):
		return v, err
	}
	return v, nil
}

// GuestPasses makes a batch of guest passes, audited by actor.
func (h *Hub) GuestPasses(ctx context.Context, a protocol.GuestCreateArgs, actor string) (protocol.GuestPassesView, error) {
	if a.Day == (a.Minutes > 0) {
		return protocol.GuestPassesView{}, errors.New("guest passes: give minutes, or day, not both")
	}
	p, err := h.patron.CreateGuestPasses(ctx, patron.GuestBatch{Count: a.Count, Minutes: a.Minutes, Branch: a.Branch}, actor)
	if err != nil {
		return protocol.GuestPassesView{}, err
	}
	h.log.Info("Guest passes made", "batch", p.Batch, "count", len(p.Codes), "minutes", p.Minutes, "branch", a.Branch, "by", actor)
	return protocol.GuestPassesView{Batch: p.Batch, Codes: p.Codes, Minutes: p.Minutes, Expires: p.Expires}, nil
}

// PatronRules are the rules in force for a branch.
func (h *Hub) PatronRules(ctx context.Context, branch string) (protocol.BranchRules, error) {
	r, own, err := patron.BranchRules(ctx, h.store, branch)
	return protocol.BranchRules{Branch: branch, Own: own, Rules: r}, err
}

// SetPatronRules replaces a branch's rules (nil: it follows the defaults),
// audited by actor. Running sessions keep their grants; the rules apply from
// the next sign-in.
func (h *Hub) SetPatronRules(ctx context.Context, branch string, r *protocol.Rules, actor string) error {
	if err := h.patron.SetRules(ctx, branch, r, actor); err != nil {
		return err
	}
	h.log.Info("Branch rules changed", "branch", branch, "by", actor)
	return nil
}

// resendGrant sends a reconnected agent the grant of its running session as
// the hub knows it now (staff may have changed it while the PC was away),
// re-signed with the seconds left from now: an agent counts a grant's
// Seconds from its arrival, so the original grant sent again would restart
// the session's time.
func (h *Hub) resendGrant(c *agentConn) {
	g, err := h.patron.Session(c.ctx, c.id)
	if err != nil {
		if !errors.Is(err, patron.ErrNoSession) {
			h.log.Warn("Running patron session unreadable", "terminal", c.id, "err", err)
		}
		return
	}
	now := time.Now()
	if !g.Ends.After(now) {
		return // over: the agent has ended it, or will report so
	}
	g.Issued, g.Seconds = now.UTC(), int64(g.Ends.Sub(now)/time.Second)
	protocol.SignGrant(&g, h.grantKey)
	if frame, err := protocol.Encode(&protocol.GrantUpdate{Grant: g}); err == nil {
		c.enqueue(frame)
	}
}
