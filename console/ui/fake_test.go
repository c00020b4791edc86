package ui

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// sent is one command as it reached the fake hub.
type sent struct {
	Terminal string
	Action   protocol.Action
	Args     map[string]string
}

// fakeHub is an in-memory HubClient. Pushes are delivered on the caller's
// goroutine, like the real client's reader delivers them on its own.
type fakeHub struct {
	mu         sync.Mutex
	role       protocol.Role
	loginErr   error
	logins     []protocol.LoginRequest
	setups     []protocol.SetupRequest
	hub        [2]string
	setupOpen  bool // no staff account yet
	probes     int  // SetupOpen calls
	terminals  []protocol.TerminalView
	events     []protocol.EventView
	commands   []sent
	result     func(sent) (protocol.Result, error)
	quarantine []protocol.QuarantineView
	tokens     []protocol.TokenArgs
	revoked    []string
	staff      []protocol.StaffView
	created    []protocol.StaffCreateArgs
	disabled   []string
	audit      []protocol.AuditView
	verify     protocol.AuditVerifyView
	ca         *x509.Certificate // the hub's CA, for its audit heads
	head       string            // the audit head hub.info answers
	noName     bool              // the hub has no public name
	report     protocol.Report   // what report answers (From, To and By are the request's)
	reportArgs []protocol.ReportArgs
	apiKeys    []protocol.APIKeyView
	hooks      []protocol.WebhookView
	hookArgs   []protocol.WebhookArgs
	apiErr     error // what every API key and webhook op answers, when set (a desk member's refusal)
	push       func(protocol.StaffPush)
	link       func(bool, error)
}

func newFakeHub(role protocol.Role) *fakeHub {
	return &fakeHub{role: role, result: func(s sent) (protocol.Result, error) {
		return protocol.Result{ID: "c1", OK: true, Output: string(s.Action) + " ok", Time: time.Unix(0, 0)}, nil
	}}
}

func (f *fakeHub) SetHub(url, fp string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if url == "" || fp == "" {
		return errors.New("hub URL and fingerprint are required")
	}
	f.hub = [2]string{url, fp}
	return nil
}

func (f *fakeHub) SetupOpen(context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probes++
	return f.setupOpen, nil
}

func (f *fakeHub) Setup(_ context.Context, r protocol.SetupRequest) (protocol.SetupResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setups = append(f.setups, r)
	return protocol.SetupResponse{User: r.User, TOTPSecret: "JBSWY3DPEHPK3PXP", TOTPURI: "otpauth://totp/Carrel:" + r.User + "?secret=JBSWY3DPEHPK3PXP"}, nil
}

func (f *fakeHub) Login(_ context.Context, r protocol.LoginRequest) (protocol.LoginResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logins = append(f.logins, r)
	if f.loginErr != nil {
		return protocol.LoginResponse{}, f.loginErr
	}
	return protocol.LoginResponse{Session: "s", User: r.User, Role: f.role, ExpiresAt: time.Unix(1e9, 0)}, nil
}

func (f *fakeHub) Logout(context.Context) error { return nil }

func (f *fakeHub) Subscribe(push func(protocol.StaffPush), link func(bool, error)) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.push, f.link = push, link
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.push, f.link = nil, nil
	}
}

// send delivers a push as the hub would.
func (f *fakeHub) send(p protocol.StaffPush) {
	f.mu.Lock()
	push := f.push
	if p.Terminal != nil {
		i := slices.IndexFunc(f.terminals, func(t protocol.TerminalView) bool { return t.ID == p.Terminal.ID })
		if i >= 0 {
			f.terminals[i] = *p.Terminal
		} else {
			f.terminals = append(f.terminals, *p.Terminal)
		}
	}
	if p.Event != nil {
		f.events = append(f.events, *p.Event)
	}
	f.mu.Unlock()
	if push != nil {
		push(p)
	}
}

func (f *fakeHub) setLink(up bool, err error) {
	f.mu.Lock()
	link := f.link
	f.mu.Unlock()
	if link != nil {
		link(up, err)
	}
}

func (f *fakeHub) Terminals(context.Context) ([]protocol.TerminalView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.terminals), nil
}

func (f *fakeHub) Events(_ context.Context, a protocol.EventsArgs) ([]protocol.EventView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []protocol.EventView
	for _, e := range f.events {
		if a.Terminal == "" || e.Terminal == a.Terminal {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f *fakeHub) Command(_ context.Context, terminal string, a protocol.Action, args map[string]string) (protocol.Result, error) {
	f.mu.Lock()
	s := sent{terminal, a, maps.Clone(args)}
	f.commands = append(f.commands, s)
	res := f.result
	f.mu.Unlock()
	return res(s)
}

func (f *fakeHub) sentCommands() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.commands)
}

func (f *fakeHub) TokenCreate(_ context.Context, a protocol.TokenArgs) (protocol.TokenView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = append(f.tokens, a)
	if f.noName {
		return protocol.TokenView{Token: "ctok_abc", Fingerprint: "ab12", ExpiresAt: time.Unix(2e9, 0), Uses: a.Uses, HubURL: "wss://localhost:8443",
			NoPublicName: true, MSIFile: "carrel-agent-1.4.2-x64.msi", DebFile: "carrel-agent_1.4.2-1_amd64.deb",
			AgentCommand: "carrel-agent enroll --hub wss://localhost:8443 --token ctok_abc",
			MSICommand:   "msiexec /i carrel-agent-1.4.2-x64.msi /qn HUB_URL=wss://localhost:8443 ENROLL_TOKEN=ctok_abc",
			DebCommand:   "apt install ./carrel-agent_1.4.2-1_amd64.deb"}, nil
	}
	return protocol.TokenView{Token: "ctok_abc", Fingerprint: "ab12", ExpiresAt: time.Unix(2e9, 0), Uses: a.Uses, HubURL: "wss://hub:8443",
		AgentCommand: "carrel-agent enroll --hub wss://hub:8443 --token ctok_abc",
		MSICommand:   "msiexec /i carrel-agent.msi /qn HUB_URL=wss://hub:8443 ENROLL_TOKEN=ctok_abc",
		DebCommand:   "apt install ./carrel-agent.deb"}, nil
}

func (f *fakeHub) Revoke(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = append(f.revoked, id)
	return nil
}

func (f *fakeHub) QuarantineList(context.Context) ([]protocol.QuarantineView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.quarantine), nil
}

func (f *fakeHub) StaffList(context.Context) ([]protocol.StaffView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.staff), nil
}

func (f *fakeHub) StaffCreate(_ context.Context, a protocol.StaffCreateArgs) (protocol.SetupResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, a)
	f.staff = append(f.staff, protocol.StaffView{User: a.User, Role: a.Role})
	return protocol.SetupResponse{User: a.User, TOTPSecret: "KRSXG5CTMVRXEZLU", TOTPURI: "otpauth://totp/Carrel:" + a.User + "?secret=KRSXG5CTMVRXEZLU"}, nil
}

func (f *fakeHub) StaffDisable(_ context.Context, user string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disabled = append(f.disabled, user)
	return nil
}

func (f *fakeHub) AuditList(context.Context, protocol.AuditArgs) ([]protocol.AuditView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.audit), nil
}

func (f *fakeHub) AuditVerify(context.Context) (protocol.AuditVerifyView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.verify, nil
}

func (f *fakeHub) HubInfo(context.Context) (protocol.HubInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return protocol.HubInfo{Version: "fake", Role: f.role, AuditHead: f.head, NoPublicName: f.noName}, nil
}

func (f *fakeHub) Report(_ context.Context, a protocol.ReportArgs) (protocol.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := a.Validate(); err != nil {
		return protocol.Report{}, err
	}
	f.reportArgs = append(f.reportArgs, a)
	r := f.report
	r.From, r.To, r.By = a.From, a.To, a.By
	if r.Zone == "" {
		r.Zone = "UTC"
	}
	return r, nil
}

func (f *fakeHub) CA() *x509.Certificate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ca
}

// setHead makes the hub answer head in hub.info from now on.
func (f *fakeHub) setHead(head string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.head = head
}

func (f *fakeHub) APIKeys(context.Context) ([]protocol.APIKeyView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.apiKeys), f.apiErr
}

func (f *fakeHub) APIKeyCreate(_ context.Context, a protocol.APIKeyArgs) (protocol.APIKeyCreated, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.apiErr != nil {
		return protocol.APIKeyCreated{}, f.apiErr
	}
	k := protocol.APIKeyView{ID: fmt.Sprintf("k-%d", len(f.apiKeys)+1), Name: a.Name, Branch: a.Branch, CreatedAt: time.Unix(1.7e9, 0), CreatedBy: "staff:ann"}
	f.apiKeys = append(f.apiKeys, k)
	return protocol.APIKeyCreated{APIKeyView: k, Key: protocol.APIKeyPrefix + "secret-" + k.ID}, nil
}

func (f *fakeHub) APIKeyRevoke(_ context.Context, id string) (protocol.APIKeyView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.apiErr != nil {
		return protocol.APIKeyView{}, f.apiErr
	}
	for i := range f.apiKeys {
		if f.apiKeys[i].ID == id && f.apiKeys[i].RevokedAt.IsZero() {
			f.apiKeys[i].RevokedAt = time.Unix(1.7e9+60, 0)
			return f.apiKeys[i], nil
		}
	}
	return protocol.APIKeyView{}, errors.New("no live API key")
}

func (f *fakeHub) Webhooks(context.Context) ([]protocol.WebhookView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.hooks), f.apiErr
}

func (f *fakeHub) WebhookCreate(_ context.Context, a protocol.WebhookArgs) (protocol.WebhookView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.apiErr != nil {
		return protocol.WebhookView{}, f.apiErr
	}
	f.hookArgs = append(f.hookArgs, a)
	w := protocol.WebhookView{ID: fmt.Sprintf("w-%d", len(f.hookArgs)), URL: a.URL, Branch: a.Branch, CreatedAt: time.Unix(1.7e9, 0), CreatedBy: "staff:ann"}
	f.hooks = append(f.hooks, w)
	return w, nil
}

func (f *fakeHub) WebhookDelete(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.apiErr != nil {
		return f.apiErr
	}
	i := slices.IndexFunc(f.hooks, func(w protocol.WebhookView) bool { return w.ID == id })
	if i < 0 {
		return errors.New("no webhook")
	}
	f.hooks = slices.Delete(f.hooks, i, i+1)
	return nil
}

var _ HubClient = (*fakeHub)(nil)
