package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// Version is the envelope version this build speaks. A peer that sends another
// version is refused with ErrVersion; the version moves when a message changes shape.
const Version = 1

// MaxFrame is the largest frame either side reads. It is the websocket read limit
// on both ends and the most Encode will produce.
const MaxFrame = 64 << 10

// HTTP paths on the hub's one TLS listener.
const (
	// PathEnroll takes a POST of EnrollRequest (JSON) and answers EnrollResponse, or
	// ErrorResponse with a 4xx status. No client certificate is needed there.
	PathEnroll = "/v1/enroll"
	// PathAgent is the agents' websocket endpoint. A client certificate signed by the
	// hub's CA is required, and a request that carries an Origin header is refused.
	PathAgent = "/v1/agent"
	// PathRenewExpired takes a POST of RenewExpiredRequest from an agent whose
	// certificate expired while the PC was off (within the hub's grace window,
	// not revoked), presented as its client certificate: the TLS handshake
	// proves the agent still holds that certificate's key. It answers
	// EnrollResponse with a fresh certificate, or ErrorResponse.
	PathRenewExpired = "/v1/renew-expired"
)

// Limits on fields, checked by Validate.
const (
	MaxShortString = 255  // names, versions, ids, kinds, hostnames
	MaxText        = 2048 // reasons, errors, free text
	MaxMessageText = 500  // a staff message shown to a patron
	MaxDataEntries = 32   // entries in Event.Data and Command.Args
	MaxDataKey     = 64
	MaxCertPEM     = 16 << 10
)

// Type names a message.
type Type string

const (
	TypeHello   Type = "hello"   // agent → hub, the first frame on a connection
	TypeWelcome Type = "welcome" // hub → agent, the answer to hello
	TypeStatus  Type = "status"  // agent → hub
	TypeEvent   Type = "event"   // agent → hub, durable, numbered
	TypeAck     Type = "ack"     // hub → agent, events up to Seq are stored
	TypeCommand Type = "command" // hub → agent
	TypeResult  Type = "result"  // agent → hub, the answer to every command
	TypeRenew   Type = "renew"   // agent → hub, a CSR for a fresh certificate
	TypeCert    Type = "cert"    // hub → agent, the renewed certificate
)

// FromAgent reports whether t is a type an agent may send.
func FromAgent(t Type) bool {
	switch t {
	case TypeHello, TypeStatus, TypeEvent, TypeResult, TypeRenew, TypeSignIn:
		return true
	}
	return false
}

// Errors returned by Decode and Validate; test with errors.Is.
var (
	ErrTooLarge    = errors.New("message too large")
	ErrVersion     = errors.New("unsupported protocol version")
	ErrUnknownType = errors.New("unknown message type")
	ErrMalformed   = errors.New("malformed message")
	ErrInvalid     = errors.New("invalid message")
)

// FieldError says which field of which message is wrong. It matches ErrInvalid.
type FieldError struct {
	Type   Type
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("invalid %s message: %s %s", e.Type, e.Field, e.Reason)
}

func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// Message is one of the concrete message types below.
type Message interface {
	MsgType() Type
	Validate() error
}

// Envelope is the outer shape of every frame.
type Envelope struct {
	V    int             `json:"v"`
	Type Type            `json:"type"`
	Body json.RawMessage `json:"body"`
}

// SessionState is what a terminal's patron seat is doing.
type SessionState string

const (
	SessionUnknown SessionState = "unknown"
	SessionFree    SessionState = "free"
	SessionInUse   SessionState = "in-use"
	SessionLocked  SessionState = "locked"
	SessionWiping  SessionState = "wiping"
	SessionDirty   SessionState = "dirty"
)

func (s SessionState) valid() bool {
	switch s {
	case SessionUnknown, SessionFree, SessionInUse, SessionLocked, SessionWiping, SessionDirty:
		return true
	}
	return false
}

// Action is a staff command. The set is closed: an agent refuses anything else.
type Action string

const (
	ActionPing              Action = "ping"
	ActionLock              Action = "lock"
	ActionUnlock            Action = "unlock"
	ActionMessage           Action = "message"
	ActionEndSession        Action = "end-session"
	ActionReboot            Action = "reboot"
	ActionShutdown          Action = "shutdown"
	ActionWipeNow           Action = "wipe-now"
	ActionReleaseQuarantine Action = "release-quarantine"
	ActionApplyPolicy       Action = "apply-policy"
	// ActionWake asks a PC to send Wake-on-LAN packets to others on its
	// subnet (power.go: ArgMACs, ArgSubnet).
	ActionWake Action = "wake"
	// ActionSelfTest runs the PC's self-test now (agent/selftest); the
	// result is an EventSelfTestDone and the Status's Proof. Admin only.
	ActionSelfTest Action = "selftest"
	// ActionMaintenance opens or ends a maintenance window on the PC
	// (maintenance.go): its guards and wipe paused until it ends.
	ActionMaintenance Action = "maintenance"
)

// Actions lists the closed set in a stable order.
var Actions = []Action{ActionPing, ActionLock, ActionUnlock, ActionMessage, ActionEndSession,
	ActionReboot, ActionShutdown, ActionWipeNow, ActionReleaseQuarantine, ActionApplyPolicy, ActionWake, ActionSelfTest, ActionMaintenance}

// Known reports whether a is in the closed set.
func (a Action) Known() bool {
	for _, k := range Actions {
		if a == k {
			return true
		}
	}
	return false
}

// Status is what an agent reports about its PC: on connect (inside Hello), on change
// and every status interval. It carries nothing a patron did.
type Status struct {
	Hostname      string       `json:"hostname"`
	OS            string       `json:"os"`         // linux, windows, darwin
	OSVersion     string       `json:"os_version"` // e.g. "debian 12.7"
	Arch          string       `json:"arch"`
	AgentVersion  string       `json:"agent_version"`
	PolicyVersion string       `json:"policy_version,omitempty"`
	BootTime      time.Time    `json:"boot_time"`
	AgentStarted  time.Time    `json:"agent_started"`
	Restarts      int          `json:"restarts"` // agent starts since install, minus one
	CPUPercent    float64      `json:"cpu_percent"`
	MemUsed       uint64       `json:"mem_used"`
	MemTotal      uint64       `json:"mem_total"`
	DiskUsed      uint64       `json:"disk_used"`
	DiskTotal     uint64       `json:"disk_total"`
	Session       SessionState `json:"session"`
	SessionSince  time.Time    `json:"session_since,omitzero"`
	Locked        bool         `json:"locked"`
	LastWipe      string       `json:"last_wipe,omitempty"` // a one-line result, e.g. "clean 412ms"
	OutboxDropped uint64       `json:"outbox_dropped"`      // events lost to outbox overflow since install
	CertExpires   time.Time    `json:"cert_expires,omitzero"`
	// Patron is the patron session on the PC, nil when none is signed in.
	Patron *PatronView `json:"patron,omitempty"`
	// NICs are the PC's wired and wireless interfaces with an IPv4 address,
	// for Wake-on-LAN (power.go).
	NICs []NIC `json:"nics,omitempty"`
	// Proof is the last self-test's summary (agent/selftest); nil before the
	// first one on this PC (the agent keeps the last across restarts).
	Proof *SelfTestSummary `json:"proof,omitempty"`
	// MaintenanceUntil is the end of the maintenance window the PC is in
	// (its guards and wipe paused), zero when armed (maintenance.go).
	MaintenanceUntil time.Time `json:"maintenance_until,omitzero"`
}

func (*Status) MsgType() Type { return TypeStatus }

func (s *Status) Validate() error {
	return s.validate(TypeStatus, "")
}

func (s *Status) validate(t Type, prefix string) error {
	if err := short(t, prefix+"hostname", s.Hostname, true); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{
		{"os", s.OS}, {"os_version", s.OSVersion}, {"arch", s.Arch},
		{"agent_version", s.AgentVersion}, {"policy_version", s.PolicyVersion}, {"last_wipe", s.LastWipe},
	} {
		if err := short(t, prefix+f.name, f.v, false); err != nil {
			return err
		}
	}
	if s.OS == "" {
		return &FieldError{t, prefix + "os", "is missing"}
	}
	if s.AgentVersion == "" {
		return &FieldError{t, prefix + "agent_version", "is missing"}
	}
	if !s.Session.valid() {
		return &FieldError{t, prefix + "session", fmt.Sprintf("has unknown state %q", s.Session)}
	}
	if s.CPUPercent < 0 || s.CPUPercent > 100*1024 {
		return &FieldError{t, prefix + "cpu_percent", "is out of range"}
	}
	if s.Restarts < 0 {
		return &FieldError{t, prefix + "restarts", "is negative"}
	}
	if s.Proof != nil {
		if err := s.Proof.validate(t, prefix+"proof."); err != nil {
			return err
		}
	}
	if len(s.NICs) > MaxNICs {
		return &FieldError{t, prefix + "nics", fmt.Sprintf("has more than %d entries", MaxNICs)}
	}
	for i, n := range s.NICs {
		if err := n.validate(t, fmt.Sprintf("%snics[%d]", prefix, i)); err != nil {
			return err
		}
	}
	if s.Patron != nil {
		return s.Patron.validate(t, prefix+"patron.")
	}
	return nil
}

// Hello opens every connection. The terminal is known to the hub from the client
// certificate; TerminalID is repeated so a mismatch is caught. Status is the full
// current state; the hub answers Welcome and re-sends what differs from its truth.
type Hello struct {
	TerminalID string `json:"terminal_id"`
	Status     Status `json:"status"`
	// NextSeq is the sequence number the agent will give its next event; the hub
	// uses it to spot an agent whose outbox was reset.
	NextSeq uint64 `json:"next_seq"`
}

func (*Hello) MsgType() Type { return TypeHello }

func (h *Hello) Validate() error {
	if err := short(TypeHello, "terminal_id", h.TerminalID, true); err != nil {
		return err
	}
	return h.Status.validate(TypeHello, "status.")
}

// Welcome answers Hello. AckedSeq is the highest event sequence the hub has stored
// for this terminal; the agent drops those from its outbox and sends the rest.
type Welcome struct {
	TerminalID string    `json:"terminal_id"`
	AckedSeq   uint64    `json:"acked_seq"`
	HubTime    time.Time `json:"hub_time"`
	// Locked is the hub's truth for the lock state; the agent re-applies it.
	Locked bool `json:"locked"`
	// AuditHead is the hub's signed audit head (AuditHead.String), for the
	// agent to keep; empty from a hub of the 2026-11 release.
	AuditHead string `json:"audit_head,omitempty"`
	// GrantKey is the hub's Ed25519 public key for patron grants (base64),
	// which the agent keeps to check a saved grant after a restart.
	GrantKey string `json:"grant_key,omitempty"`
}

func (*Welcome) MsgType() Type { return TypeWelcome }

func (w *Welcome) Validate() error {
	if err := text(TypeWelcome, "grant_key", w.GrantKey, 64); err != nil {
		return err
	}
	return short(TypeWelcome, "terminal_id", w.TerminalID, true)
}

// Event is something that happened on a terminal that staff need to know about.
// Seq is per agent, starts at 1 and never repeats; the hub stores each (terminal,
// seq) once. Data holds short plain-text details (file name, reason, hash).
type Event struct {
	Seq      uint64            `json:"seq"`
	Time     time.Time         `json:"time"`
	Kind     EventKind         `json:"kind"`
	Severity Severity          `json:"severity"`
	Data     map[string]string `json:"data,omitempty"`
}

// Severity grades an event; alerts are shown to staff prominently.
type Severity string

const (
	SeverityInfo  Severity = "info"
	SeverityWarn  Severity = "warn"
	SeverityAlert Severity = "alert"
)

func (*Event) MsgType() Type { return TypeEvent }

func (e *Event) Validate() error {
	if e.Seq == 0 {
		return &FieldError{TypeEvent, "seq", "must be at least 1"}
	}
	if e.Time.IsZero() {
		return &FieldError{TypeEvent, "time", "is missing"}
	}
	if err := short(TypeEvent, "kind", string(e.Kind), true); err != nil {
		return err
	}
	switch e.Severity {
	case SeverityInfo, SeverityWarn, SeverityAlert:
	default:
		return &FieldError{TypeEvent, "severity", fmt.Sprintf("has unknown value %q", e.Severity)}
	}
	return validData(TypeEvent, "data", e.Data)
}

// Ack tells the agent that every event with Seq ≤ Ack.Seq is stored.
type Ack struct {
	Seq uint64 `json:"seq"`
}

func (*Ack) MsgType() Type   { return TypeAck }
func (*Ack) Validate() error { return nil }

// Command is a staff action for one terminal. The hub authorises and audits it
// before sending; the agent refuses it if it is addressed elsewhere, expired,
// already seen, or not in the closed set, and answers every command with a Result.
type Command struct {
	ID        string            `json:"id"`
	Terminal  string            `json:"terminal"`
	Action    Action            `json:"action"`
	Args      map[string]string `json:"args,omitempty"`
	IssuedBy  string            `json:"issued_by"`
	IssuedAt  time.Time         `json:"issued_at"`
	ExpiresAt time.Time         `json:"expires_at"`
}

func (*Command) MsgType() Type { return TypeCommand }

// Validate checks the shape only. An action outside the closed set is a valid
// message: the agent must still answer it, with a refusal.
func (c *Command) Validate() error {
	for _, f := range []struct{ name, v string }{{"id", c.ID}, {"terminal", c.Terminal}, {"action", string(c.Action)}, {"issued_by", c.IssuedBy}} {
		if err := short(TypeCommand, f.name, f.v, true); err != nil {
			return err
		}
	}
	if c.IssuedAt.IsZero() {
		return &FieldError{TypeCommand, "issued_at", "is missing"}
	}
	if c.ExpiresAt.IsZero() {
		return &FieldError{TypeCommand, "expires_at", "is missing"}
	}
	if !c.ExpiresAt.After(c.IssuedAt) {
		return &FieldError{TypeCommand, "expires_at", "is not after issued_at"}
	}
	return validData(TypeCommand, "args", c.Args)
}

// Result answers one Command. OK false with Error says why it was refused or failed.
type Result struct {
	ID     string    `json:"id"`
	OK     bool      `json:"ok"`
	Error  string    `json:"error,omitempty"`
	Output string    `json:"output,omitempty"`
	Time   time.Time `json:"time"`
}

func (*Result) MsgType() Type { return TypeResult }

func (r *Result) Validate() error {
	if err := short(TypeResult, "id", r.ID, true); err != nil {
		return err
	}
	if err := text(TypeResult, "error", r.Error, MaxText); err != nil {
		return err
	}
	return text(TypeResult, "output", r.Output, MaxText)
}

// Renew asks for a fresh certificate for the connection's terminal, over the live
// mutual-TLS link. CSR is PEM.
type Renew struct {
	CSR string `json:"csr"`
}

func (*Renew) MsgType() Type { return TypeRenew }

func (r *Renew) Validate() error {
	if r.CSR == "" {
		return &FieldError{TypeRenew, "csr", "is missing"}
	}
	return text(TypeRenew, "csr", r.CSR, MaxCertPEM)
}

// Cert carries a renewed certificate (PEM) to the agent.
type Cert struct {
	Certificate string `json:"certificate"`
}

func (*Cert) MsgType() Type { return TypeCert }

func (c *Cert) Validate() error {
	if c.Certificate == "" {
		return &FieldError{TypeCert, "certificate", "is missing"}
	}
	return text(TypeCert, "certificate", c.Certificate, MaxCertPEM)
}

// EnrollRequest is POSTed to PathEnroll. The agent made the key; only the CSR
// (PEM) leaves the machine.
type EnrollRequest struct {
	Token    string `json:"token"`
	CSR      string `json:"csr"`
	Hostname string `json:"hostname"`
	OS       string `json:"os"`
}

func (r *EnrollRequest) Validate() error {
	const t = Type("enroll")
	if err := short(t, "token", r.Token, true); err != nil {
		return err
	}
	if err := short(t, "hostname", r.Hostname, true); err != nil {
		return err
	}
	if err := short(t, "os", r.OS, true); err != nil {
		return err
	}
	if r.CSR == "" {
		return &FieldError{t, "csr", "is missing"}
	}
	return text(t, "csr", r.CSR, MaxCertPEM)
}

// EnrollResponse carries the agent's certificate and the CA it chains to (PEM).
type EnrollResponse struct {
	TerminalID  string `json:"terminal_id"`
	Certificate string `json:"certificate"`
	CA          string `json:"ca"`
}

// RenewExpiredRequest is POSTed to PathRenewExpired: a CSR (PEM) for the
// agent's new key, named for its terminal.
type RenewExpiredRequest struct {
	CSR string `json:"csr"`
}

func (r *RenewExpiredRequest) Validate() error {
	if r.CSR == "" {
		return &FieldError{Type("renew-expired"), "csr", "is missing"}
	}
	return text(Type("renew-expired"), "csr", r.CSR, MaxCertPEM)
}

// ErrorResponse is the body of any 4xx/5xx answer on a plain HTTPS path.
type ErrorResponse struct {
	Error string `json:"error"`
}

func short(t Type, field, v string, required bool) error {
	if v == "" {
		if required {
			return &FieldError{t, field, "is missing"}
		}
		return nil
	}
	if err := text(t, field, v, MaxShortString); err != nil {
		return err
	}
	return checkPlain(t, field, v)
}

func text(t Type, field, v string, max int) error {
	if len(v) > max {
		return &FieldError{t, field, fmt.Sprintf("is longer than %d bytes", max)}
	}
	if !utf8.ValidString(v) {
		return &FieldError{t, field, "is not valid UTF-8"}
	}
	return nil
}

func validData(t Type, field string, m map[string]string) error {
	if len(m) > MaxDataEntries {
		return &FieldError{t, field, fmt.Sprintf("has more than %d entries", MaxDataEntries)}
	}
	for k, v := range m {
		if k == "" || len(k) > MaxDataKey {
			return &FieldError{t, field, "has an empty or overlong key"}
		}
		if err := text(t, field+"."+k, v, MaxText); err != nil {
			return err
		}
	}
	return nil
}

// Encode validates m and wraps it in an envelope of the current version.
func Encode(m Message) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.MsgType(), err)
	}
	out, err := json.Marshal(Envelope{V: Version, Type: m.MsgType(), Body: body})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.MsgType(), err)
	}
	if len(out) > MaxFrame {
		return nil, fmt.Errorf("encode %s: %w (%d bytes)", m.MsgType(), ErrTooLarge, len(out))
	}
	return out, nil
}

func newMessage(t Type) Message {
	switch t {
	case TypeHello:
		return new(Hello)
	case TypeWelcome:
		return new(Welcome)
	case TypeStatus:
		return new(Status)
	case TypeEvent:
		return new(Event)
	case TypeAck:
		return new(Ack)
	case TypeCommand:
		return new(Command)
	case TypeResult:
		return new(Result)
	case TypeRenew:
		return new(Renew)
	case TypeCert:
		return new(Cert)
	case TypeSignIn:
		return new(SignIn)
	case TypeSignInAnswer:
		return new(SignInAnswer)
	case TypeGrant:
		return new(GrantUpdate)
	}
	return nil
}

// Decode parses and validates one frame. Unknown fields are refused: a peer that
// needs new fields must move the version.
func Decode(data []byte) (Message, error) {
	if len(data) > MaxFrame {
		return nil, fmt.Errorf("decode: %w (%d bytes)", ErrTooLarge, len(data))
	}
	var env Envelope
	if err := strict(data, &env); err != nil {
		return nil, fmt.Errorf("decode envelope: %w: %v", ErrMalformed, err)
	}
	if env.V != Version {
		return nil, fmt.Errorf("decode: %w %d (this build speaks %d)", ErrVersion, env.V, Version)
	}
	m := newMessage(env.Type)
	if m == nil {
		return nil, fmt.Errorf("decode: %w %q", ErrUnknownType, Clip(string(env.Type), 40))
	}
	if len(env.Body) == 0 || bytes.Equal(env.Body, []byte("null")) {
		return nil, fmt.Errorf("decode %s: %w: body is missing", env.Type, ErrMalformed)
	}
	if err := strict(env.Body, m); err != nil {
		return nil, fmt.Errorf("decode %s: %w: %v", env.Type, ErrMalformed, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeJSON strictly decodes a plain JSON body (enrollment) of at most max bytes.
func DecodeJSON(data []byte, max int, v any) error {
	if len(data) > max {
		return fmt.Errorf("decode: %w (%d bytes)", ErrTooLarge, len(data))
	}
	if err := strict(data, v); err != nil {
		return fmt.Errorf("decode: %w: %v", ErrMalformed, err)
	}
	return nil
}

func strict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
