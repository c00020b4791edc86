package link

import (
	"context"
	"errors"
	"fmt"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// ErrNoLink is a sign-in while the agent has no link to its hub (or the link
// went down before the answer came).
var ErrNoLink = errors.New("link: not connected to the hub")

// maxSignIns bounds the sign-ins waiting for an answer at once.
const maxSignIns = 8

// SignIn sends a patron's sign-in to the hub and waits for its answer (same
// ID) until ctx ends. Neither the link nor its logs keep what s carries: it
// is encoded once into the frame the writer sends.
func (c *Client) SignIn(ctx context.Context, s protocol.SignIn) (protocol.SignInAnswer, error) {
	if err := s.Validate(); err != nil {
		return protocol.SignInAnswer{}, fmt.Errorf("sign-in: %w", err)
	}
	ch := make(chan protocol.SignInAnswer, 1)
	c.mu.Lock()
	send := c.live
	if send == nil {
		c.mu.Unlock()
		return protocol.SignInAnswer{}, ErrNoLink
	}
	if c.waiting == nil {
		c.waiting = map[string]chan protocol.SignInAnswer{}
	}
	if _, dup := c.waiting[s.ID]; dup || len(c.waiting) >= maxSignIns {
		c.mu.Unlock()
		return protocol.SignInAnswer{}, errors.New("sign-in: too many at once")
	}
	c.waiting[s.ID] = ch
	gone := c.down
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, s.ID)
		c.mu.Unlock()
	}()
	if err := send(&s); err != nil {
		return protocol.SignInAnswer{}, ErrNoLink
	}
	select {
	case a := <-ch:
		return a, nil
	case <-gone:
		return protocol.SignInAnswer{}, ErrNoLink
	case <-ctx.Done():
		return protocol.SignInAnswer{}, fmt.Errorf("sign-in: no answer from the hub: %w", ctx.Err())
	}
}

// connected makes send the way to the hub while a connection is up; the
// returned func ends that and fails the sign-ins still waiting.
func (c *Client) connected(send func(protocol.Message) error) (down func()) {
	gone := make(chan struct{})
	c.mu.Lock()
	c.live, c.down = send, gone
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.live, c.down = nil, nil
		c.mu.Unlock()
		close(gone)
	}
}

// answered hands a SignInAnswer to the sign-in waiting for it.
func (c *Client) answered(a *protocol.SignInAnswer) {
	c.mu.Lock()
	ch := c.waiting[a.ID]
	c.mu.Unlock()
	if ch == nil {
		c.log.Warn("Sign-in answer for no waiting sign-in (it timed out?)", "id", protocol.Clip(a.ID, 40))
		return
	}
	select {
	case ch <- *a:
	default:
	}
}
