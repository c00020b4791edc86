package link

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Limits of command handling.
const (
	// ClockSkew is how far in the future a command's issued_at may lie.
	ClockSkew = 60 * time.Second
	// MaxCommandLife refuses commands that claim to stay valid longer, which keeps
	// the replay memory bounded.
	MaxCommandLife = 24 * time.Hour
	maxSeen        = 10000
	maxRunning     = 8
)

// seenStore remembers command IDs until their expiry, on disk, so that a replayed
// command is refused even after an agent restart.
type seenStore struct {
	path string

	mu sync.Mutex // guards the fields below
	// ResetAt is set when the file was lost or corrupt: commands issued before it
	// may be replays we can no longer recognise, so they are refused.
	ResetAt time.Time            `json:"reset_at,omitzero"`
	Seen    map[string]time.Time `json:"seen"` // id → expires_at
}

func loadSeen(path string, now time.Time) (*seenStore, error) {
	s := &seenStore{path: path, Seen: map[string]time.Time{}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("read seen commands: %w", err)
	}
	if err := json.Unmarshal(b, s); err != nil || s.Seen == nil {
		// Fail closed: refuse everything issued before now.
		s.Seen = map[string]time.Time{}
		s.ResetAt = now
		return s, s.saveLocked(now)
	}
	return s, nil
}

// reserve records id as seen until expires. It reports false if id was seen.
func (s *seenStore) reserve(id string, issued, expires, now time.Time) (refusal string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ResetAt.IsZero() && issued.Before(s.ResetAt) {
		return "refused: issued before the agent lost its record of seen commands", nil
	}
	if _, dup := s.Seen[id]; dup {
		return "replayed: this command id was already received", nil
	}
	s.prune(now)
	if len(s.Seen) >= maxSeen {
		return "refused: too many unexpired commands", nil
	}
	s.Seen[id] = expires
	if err := s.saveLocked(now); err != nil {
		delete(s.Seen, id)
		return "", err
	}
	return "", nil
}

func (s *seenStore) prune(now time.Time) {
	for id, exp := range s.Seen {
		if now.After(exp) {
			delete(s.Seen, id)
		}
	}
	if !s.ResetAt.IsZero() && now.Sub(s.ResetAt) > MaxCommandLife+ClockSkew {
		s.ResetAt = time.Time{}
	}
}

func (s *seenStore) saveLocked(now time.Time) error {
	s.prune(now)
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode seen commands: %w", err)
	}
	return writePrivate(s.path, b)
}

// check decides whether cmd may run. It returns the refusal text, or "" with the
// handler to run. This is the one place the agent checks an action against the
// closed set (protocol.Actions): whatever Options.Commands would answer, an
// action outside it is refused here, and answered.
func (c *Client) check(cmd *protocol.Command, now time.Time) (string, protocol.CommandHandler, error) {
	if cmd.Terminal != c.id.TerminalID {
		return fmt.Sprintf("misaddressed: for terminal %q, this is %q", protocol.Clip(cmd.Terminal, 64), c.id.TerminalID), nil, nil
	}
	if !now.Before(cmd.ExpiresAt) {
		return fmt.Sprintf("expired at %s (agent time %s)", cmd.ExpiresAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)), nil, nil
	}
	if cmd.IssuedAt.After(now.Add(ClockSkew)) {
		return fmt.Sprintf("issued in the future (%s; agent time %s): clocks differ by more than %s",
			cmd.IssuedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), ClockSkew), nil, nil
	}
	if cmd.ExpiresAt.Sub(now) > MaxCommandLife {
		return fmt.Sprintf("refused: expires more than %s ahead", MaxCommandLife), nil, nil
	}
	if !cmd.Action.Known() {
		return fmt.Sprintf("unknown action %q", protocol.Clip(string(cmd.Action), 64)), nil, nil
	}
	h := c.handler(cmd.Action)
	if h == nil {
		return fmt.Sprintf("action %q is not supported by this agent", cmd.Action), nil, nil
	}
	refusal, err := c.seen.reserve(cmd.ID, cmd.IssuedAt, cmd.ExpiresAt, now)
	if err != nil {
		return "refused: the agent cannot record the command", nil, err
	}
	if refusal != "" {
		return refusal, nil, nil
	}
	return "", h, nil
}

// command answers one command: a refusal at once, or the handler's result when
// it returns. Handlers run under the client's context (not the connection's), so
// a link drop does not abort a wipe; their results wait for the next connection.
func (c *Client) command(cmd *protocol.Command) {
	now := c.now()
	refusal, h, err := c.check(cmd, now)
	if err != nil {
		c.log.Error("Command not recorded", "id", cmd.ID, "err", err)
	}
	if refusal != "" {
		c.log.Warn("Command refused", "id", cmd.ID, "action", protocol.Clip(string(cmd.Action), 64), "issuedBy", cmd.IssuedBy, "reason", refusal)
		c.result(protocol.Result{ID: cmd.ID, OK: false, Error: refusal, Time: now.UTC()})
		return
	}
	select {
	case c.running <- struct{}{}:
	default:
		c.result(protocol.Result{ID: cmd.ID, OK: false, Error: "busy: too many commands running", Time: now.UTC()})
		return
	}
	c.log.Info("Command accepted", "id", cmd.ID, "action", cmd.Action, "issuedBy", cmd.IssuedBy)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() { <-c.running }()
		ctx, cancel := context.WithTimeout(c.runCtx, c.opt.CommandTimeout)
		defer cancel()
		out, err := runHandler(ctx, h, cmd.Args)
		r := protocol.Result{ID: cmd.ID, OK: err == nil, Output: protocol.Clip(out, protocol.MaxText), Time: c.now().UTC()}
		if err != nil {
			r.Error = protocol.Clip(err.Error(), protocol.MaxText)
			c.log.Warn("Command failed", "id", cmd.ID, "action", cmd.Action, "err", err)
		}
		c.result(r)
	}()
}

func runHandler(ctx context.Context, h protocol.CommandHandler, args map[string]string) (out string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	if args == nil {
		args = map[string]string{}
	}
	return h(ctx, args)
}

// result queues a result for the hub; if the queue is full (the link has been
// down a long time) the oldest waiting result is dropped.
func (c *Client) result(r protocol.Result) {
	for {
		select {
		case c.results <- r:
			return
		default:
		}
		select {
		case old := <-c.results:
			c.log.Warn("Result queue full; dropping an old result", "id", old.ID)
		default:
		}
	}
}
