package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/wsserve"
)

// The control socket: HTTP over the unix socket <data>/hub.sock (mode 0600, in the
// 0700 data dir), for the carrel-hub CLI on the same machine. Its requests and
// answers are protocol's (control.go). Callers are named "local:<unix user>" in
// the audit log, from the socket's peer credentials.

type ctxConnKey struct{}

func (h *Hub) listenControl() error {
	path := filepath.Join(h.cfg.DataDir, SocketFile)
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("another carrel-hub serve is running on %s", h.cfg.DataDir)
	}
	os.Remove(path) // a stale socket from a hub that died
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("listen on control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("listen on control socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(http.MethodGet+" "+protocol.PathControlHealth, h.ctlHealth)
	mux.HandleFunc(http.MethodPost+" "+protocol.PathControlCommand, h.ctlCommand)
	mux.HandleFunc(http.MethodPost+" "+protocol.PathControlRevoke, h.ctlRevoke)
	mux.HandleFunc(http.MethodPost+" "+protocol.PathControlBranch, h.ctlBranch)
	mux.HandleFunc(http.MethodPost+" "+protocol.PathControlWake, h.ctlWake)
	h.ctlLn = ln
	h.ctl = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, ctxConnKey{}, c) },
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
	}
	return nil
}

// caller names the local user on the other end of the control socket.
func caller(r *http.Request) string {
	c, _ := r.Context().Value(ctxConnKey{}).(net.Conn)
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return "local:unknown"
	}
	uid, err := peerUID(uc)
	if err != nil {
		return "local:unknown"
	}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return "local:" + u.Username
	}
	return "local:uid " + strconv.Itoa(uid)
}

func (h *Hub) ctlHealth(w http.ResponseWriter, r *http.Request) {
	ils := h.ILSLink()
	wsserve.WriteJSON(w, http.StatusOK, protocol.ControlHealthResponse{OK: true, Addr: h.ln.Addr().String(), Fingerprint: h.Fingerprint(), Online: h.OnlineCount(),
		ILS: &ils})
}

func readCtl(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return err
	}
	return protocol.DecodeJSON(b, 64<<10, v)
}

func (h *Hub) ctlCommand(w http.ResponseWriter, r *http.Request) {
	var req protocol.CommandArgs
	if err := readCtl(r, &req); err != nil {
		wsserve.WriteJSON(w, http.StatusBadRequest, protocol.ControlCommandResponse{Error: err.Error()})
		return
	}
	res, err := h.SendCommand(r.Context(), req.Terminal, req.Action, req.Args, caller(r))
	if err != nil {
		wsserve.WriteJSON(w, http.StatusOK, protocol.ControlCommandResponse{Error: err.Error()})
		return
	}
	wsserve.WriteJSON(w, http.StatusOK, protocol.ControlCommandResponse{Result: &res})
}

func (h *Hub) ctlRevoke(w http.ResponseWriter, r *http.Request) {
	var req protocol.TerminalArgs
	if err := readCtl(r, &req); err != nil {
		wsserve.WriteJSON(w, http.StatusBadRequest, protocol.ControlRevokeResponse{Error: err.Error()})
		return
	}
	t, err := h.Revoke(r.Context(), req.Terminal, caller(r))
	if err != nil {
		wsserve.WriteJSON(w, http.StatusOK, protocol.ControlRevokeResponse{Error: err.Error()})
		return
	}
	wsserve.WriteJSON(w, http.StatusOK, protocol.ControlRevokeResponse{ID: t.ID, Name: t.Name})
}

func (h *Hub) ctlBranch(w http.ResponseWriter, r *http.Request) {
	var req protocol.BranchArgs
	if err := readCtl(r, &req); err != nil {
		wsserve.WriteJSON(w, http.StatusBadRequest, protocol.ControlRevokeResponse{Error: err.Error()})
		return
	}
	t, err := h.SetBranch(r.Context(), req.Terminal, req.Branch, caller(r))
	if err != nil {
		wsserve.WriteJSON(w, http.StatusOK, protocol.ControlRevokeResponse{Error: err.Error()})
		return
	}
	wsserve.WriteJSON(w, http.StatusOK, protocol.ControlRevokeResponse{ID: t.ID, Name: t.Name})
}

func (h *Hub) ctlWake(w http.ResponseWriter, r *http.Request) {
	var req protocol.WakeArgs
	if err := readCtl(r, &req); err != nil {
		wsserve.WriteJSON(w, http.StatusBadRequest, protocol.WakeResponse{Error: err.Error()})
		return
	}
	res, err := h.Wake(r.Context(), req.Terminals, caller(r))
	if err != nil {
		wsserve.WriteJSON(w, http.StatusOK, protocol.WakeResponse{Error: err.Error()})
		return
	}
	wsserve.WriteJSON(w, http.StatusOK, protocol.WakeResponse{Results: res})
}

// ErrNotRunning is returned by Dial when no hub answers on the control socket.
var ErrNotRunning = errors.New("carrel-hub serve is not running")

// Control is a client of a running hub's control socket.
type Control struct {
	c *http.Client
}

// Dial connects to the control socket of the hub serving dataDir, checking it
// answers; ErrNotRunning if none does.
func Dial(ctx context.Context, dataDir string) (*Control, error) {
	path := filepath.Join(dataDir, SocketFile)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}
	c := &Control{c: &http.Client{Transport: tr}}
	if _, err := c.Health(ctx); err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNotRunning, err)
	}
	return c, nil
}

func (c *Control) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://hub"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.c.Do(req)
	if err != nil {
		return fmt.Errorf("control %s: %w", path, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("control %s: %s: %w", path, resp.Status, err)
	}
	return nil
}

// Health asks the hub how it is.
func (c *Control) Health(ctx context.Context) (protocol.ControlHealthResponse, error) {
	var h protocol.ControlHealthResponse
	err := c.do(ctx, http.MethodGet, protocol.PathControlHealth, nil, &h)
	return h, err
}

// Command sends a command through the hub and waits for its answer.
func (c *Control) Command(ctx context.Context, req protocol.CommandArgs) (protocol.ControlCommandResponse, error) {
	var out protocol.ControlCommandResponse
	err := c.do(ctx, http.MethodPost, protocol.PathControlCommand, req, &out)
	return out, err
}

// Wake wakes terminals by Wake-on-LAN through the running hub.
func (c *Control) Wake(ctx context.Context, terminals []string) (protocol.WakeResponse, error) {
	var out protocol.WakeResponse
	err := c.do(ctx, http.MethodPost, protocol.PathControlWake, protocol.WakeArgs{Terminals: terminals}, &out)
	return out, err
}

// SetBranch moves a terminal to a branch through the running hub.
func (c *Control) SetBranch(ctx context.Context, terminal, branch string) (protocol.ControlRevokeResponse, error) {
	var out protocol.ControlRevokeResponse
	err := c.do(ctx, http.MethodPost, protocol.PathControlBranch, protocol.BranchArgs{Terminal: terminal, Branch: branch}, &out)
	return out, err
}

// Revoke revokes a terminal through the hub, dropping its connection.
func (c *Control) Revoke(ctx context.Context, terminal string) (protocol.ControlRevokeResponse, error) {
	var out protocol.ControlRevokeResponse
	err := c.do(ctx, http.MethodPost, protocol.PathControlRevoke, protocol.TerminalArgs{Terminal: terminal}, &out)
	return out, err
}
