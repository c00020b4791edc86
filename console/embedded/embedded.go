// Package embedded runs a Carrel hub inside the staff console, for a branch
// with one desk ("this computer is the hub"). The hub listens for agents on the
// configured address like a standalone carrel-hub; the console reaches it over
// loopback with the hub's own CA pinned.
//
// On first start the hub writes a one-time setup code into its data
// directory; SetupCode reads it so the console can fill in first-run setup.
// TestClientAgainstRealHub runs the console's client against it.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/carrel-kiosk/carrel/internal/hub"
)

// Starter starts the hub at most once and returns its loopback URL and CA
// fingerprint; the hub stops when the ctx given to the first Start ends.
type Starter struct {
	DataDir string // hub data directory (created 0700)
	Listen  string // agents' listen address, e.g. ":8443"
	// Names are the hub's public names, as PCs will dial it (carrel-console
	// --embedded-name); the first is the one enrollment lines use. Without
	// one the hub says it has no public name.
	Names   []string
	Version string // the console's, shown as the hub's
	Log     *slog.Logger

	once sync.Once
	url  string
	fp   string
	err  error
	done chan struct{}
}

// Start is a ui.EmbeddedHub.
func (s *Starter) Start(ctx context.Context) (string, string, error) {
	s.once.Do(func() {
		s.url, s.fp, s.err = s.start(ctx)
	})
	return s.url, s.fp, s.err
}

func (s *Starter) start(ctx context.Context) (string, string, error) {
	if s.DataDir == "" {
		return "", "", errors.New("embedded hub: no data directory")
	}
	listen := s.Listen
	if listen == "" {
		listen = ":8443"
	}
	h, err := hub.New(hub.Config{DataDir: s.DataDir, Listen: listen, Names: s.Names, Version: s.Version, NoControlSocket: true}, s.Log)
	if err != nil {
		return "", "", fmt.Errorf("embedded hub: %w", err)
	}
	port := 0
	if a, ok := h.Addr().(*net.TCPAddr); ok {
		port = a.Port
	}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := h.Run(ctx); err != nil {
			s.Log.Error("Embedded hub stopped", "err", err)
		}
	}()
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), h.Fingerprint(), nil
}

// Wait blocks until a started hub has shut down (after its ctx ended).
func (s *Starter) Wait() {
	if s.done != nil {
		<-s.done
	}
}

// SetupCode is the hub's waiting one-time setup code ("" if none: setup is
// done, or the hub has not written it).
func (s *Starter) SetupCode() string {
	if s.DataDir == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(s.DataDir, "setup-code"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
