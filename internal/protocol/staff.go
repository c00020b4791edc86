package protocol

import (
	"encoding/json"
	"fmt"
	"time"
)

// The staff API: plain HTTPS for setup and login, then one websocket per console
// on the same TLS listener as the agents. Every request on the websocket carries
// the session of a logged-in staff member; the hub checks the role on every
// request and writes the audit record before it acts.
const (
	// PathStaffSetup takes a POST of SetupRequest and answers SetupResponse. It only
	// works while no staff account exists, and only with the one-time setup code the
	// hub wrote into its data dir (and printed) on first start.
	PathStaffSetup = "/v1/staff/setup"
	// PathStaffLogin takes a POST of LoginRequest and answers LoginResponse, or
	// ErrorResponse: 401 for any wrong credential (the answer never says which),
	// 429 when rate-limited or locked out.
	PathStaffLogin = "/v1/staff/login"
	// PathStaffLogout ends the session named in the Authorization header.
	PathStaffLogout = "/v1/staff/logout"
	// PathStaff is the staff websocket. Header "Authorization: Bearer SESSION";
	// a request with an Origin header is refused.
	PathStaff = "/v1/staff/ws"
)

// MaxStaffFrame bounds a frame from the hub to a console: one answer may carry a
// whole room (a TerminalView with its status is about 720 bytes, so 2,000
// terminals are about 1.4 MB). Requests from a console stay within MaxFrame.
const MaxStaffFrame = 4 << 20

// Role is what a staff member may do. desk: watch, message, lock/unlock, end
// session. admin: everything, including enrollment, revocation, quarantine release,
// staff accounts and the audit log.
type Role string

const (
	RoleDesk  Role = "desk"
	RoleAdmin Role = "admin"
)

func (r Role) Valid() bool { return r == RoleDesk || r == RoleAdmin }

// SetupRequest creates the first admin.
type SetupRequest struct {
	SetupCode string `json:"setup_code"`
	User      string `json:"user"`
	Password  string `json:"password"`
}

// SetupResponse carries the new admin's TOTP secret: shown once, as text and as
// the otpauth:// URI a phone app scans from a QR code.
type SetupResponse struct {
	User       string `json:"user"`
	TOTPSecret string `json:"totp_secret"`
	TOTPURI    string `json:"totp_uri"`
}

// LoginRequest is a password and a current TOTP code. A code is accepted once.
type LoginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
	TOTP     string `json:"totp"`
}

// LoginResponse names the session (a bearer secret) and when it expires.
type LoginResponse struct {
	Session   string    `json:"session"`
	User      string    `json:"user"`
	Role      Role      `json:"role"`
	ExpiresAt time.Time `json:"expires_at"`
}

// StaffOp names a request on the staff websocket.
type StaffOp string

const (
	OpSubscribe      StaffOp = "subscribe"       // SubscribeArgs → pushes from then on; desk
	OpTerminals      StaffOp = "terminals"       // → []TerminalView; desk
	OpEvents         StaffOp = "events"          // EventsArgs → []EventView; desk
	OpCommand        StaffOp = "command"         // CommandArgs → Result (after the agent answers); desk for desk actions, admin for the rest
	OpTokenCreate    StaffOp = "token.create"    // TokenArgs → TokenView; admin
	OpTerminalRevoke StaffOp = "terminal.revoke" // TerminalArgs → nothing; admin
	OpQuarantineList StaffOp = "quarantine.list" // → []QuarantineView; admin
	OpStaffList      StaffOp = "staff.list"      // → []StaffView; admin
	OpStaffCreate    StaffOp = "staff.create"    // StaffCreateArgs → SetupResponse (TOTP for the new member); admin
	OpStaffDisable   StaffOp = "staff.disable"   // StaffArgs → nothing; admin
	OpAuditList      StaffOp = "audit.list"      // AuditArgs → []AuditView; admin
	OpAuditVerify    StaffOp = "audit.verify"    // → AuditVerifyView; admin
	OpHubInfo        StaffOp = "hub.info"        // → HubInfo; desk
	OpReport         StaffOp = "report"          // ReportArgs → Report (usage counts); desk
	OpIMLS           StaffOp = "report.imls"     // IMLSArgs → IMLS (a year's survey figures); desk

	// The patron session (rules.go, patron.go).
	OpSessionGet  StaffOp = "session.get"  // TerminalArgs → SessionView; desk
	OpSessionTime StaffOp = "session.time" // SessionTimeArgs → Grant (the new one, sent to the PC); desk
	OpGuestCreate StaffOp = "guest.create" // GuestCreateArgs → GuestPassesView (the codes, shown once); desk
	OpRulesGet    StaffOp = "rules.get"    // RulesArgs → BranchRules; admin
	OpRulesSet    StaffOp = "rules.set"    // RulesSetArgs → nothing; admin
	OpILSLink     StaffOp = "ils.link"     // → ILSLink; desk
)

// SessionView is a PC's patron session as staff see it: its grant (nil when
// no patron is signed in) and the rules of the PC's branch.
type SessionView struct {
	Grant  *Grant `json:"grant,omitempty"`
	Branch string `json:"branch,omitempty"`
	Rules  Rules  `json:"rules"`
}

// SessionTimeArgs adds minutes to (negative: removes them from) the session
// running at a terminal (ID or name).
type SessionTimeArgs struct {
	Terminal string `json:"terminal"`
	Minutes  int    `json:"minutes"`
}

// GuestCreateArgs asks for Count guest passes of Minutes minutes each, or for
// the day (Day, Minutes 0), for a branch.
type GuestCreateArgs struct {
	Count   int    `json:"count"`
	Minutes int    `json:"minutes,omitempty"`
	Day     bool   `json:"day,omitempty"`
	Branch  string `json:"branch,omitempty"`
}

// GuestPassesView is a batch just made. The hub keeps only the codes' hashes:
// these codes are never shown again.
type GuestPassesView struct {
	Batch   string    `json:"batch"`
	Codes   []string  `json:"codes"`
	Minutes int       `json:"minutes,omitempty"` // 0: day passes
	Expires time.Time `json:"expires"`
}

// RulesArgs names a branch ("" for the defaults).
type RulesArgs struct {
	Branch string `json:"branch"`
}

// BranchRules are the rules in force for a branch; Own says whether they are
// the branch's own or the defaults it follows.
type BranchRules struct {
	Branch string `json:"branch"`
	Own    bool   `json:"own"`
	Rules  Rules  `json:"rules"`
}

// RulesSetArgs replaces a branch's rules; nil Rules deletes the branch's own
// (it follows the defaults again).
type RulesSetArgs struct {
	Branch string `json:"branch"`
	Rules  *Rules `json:"rules"`
}

// DeskActions are the agent actions a desk member may send; every other action
// needs admin.
var DeskActions = map[Action]bool{ActionPing: true, ActionLock: true, ActionUnlock: true,
	ActionMessage: true, ActionEndSession: true}

// StaffRequest is one request from a console. ID is chosen by the console and
// echoed in the StaffResponse.
type StaffRequest struct {
	ID   uint64          `json:"id"`
	Op   StaffOp         `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
}

// StaffResponse answers one StaffRequest.
type StaffResponse struct {
	ID    uint64          `json:"id"`
	OK    bool            `json:"ok"`
	Error string          `json:"error,omitempty"`
	Body  json.RawMessage `json:"body,omitempty"`
}

// StaffPush is a frame the hub sends unasked after OpSubscribe: a terminal changed,
// or an event arrived. Exactly one of Terminal and Event is set.
type StaffPush struct {
	Terminal *TerminalView `json:"terminal,omitempty"`
	Event    *EventView    `json:"event,omitempty"`
}

// StaffFrame is what the hub sends on the staff websocket: a response or a push.
type StaffFrame struct {
	Response *StaffResponse `json:"response,omitempty"`
	Push     *StaffPush     `json:"push,omitempty"`
}

// SubscribeArgs asks for every event with an ID above SinceEvent (0: none of the
// past), then live pushes. A console that reconnects passes the last ID it saw.
type SubscribeArgs struct {
	SinceEvent int64 `json:"since_event"`
}

type EventsArgs struct {
	Terminal   string `json:"terminal,omitempty"`
	SinceEvent int64  `json:"since_event"`
	Limit      int    `json:"limit"`
}

type CommandArgs struct {
	Terminal string            `json:"terminal"`
	Action   Action            `json:"action"`
	Args     map[string]string `json:"args,omitempty"`
}

type TokenArgs struct {
	Uses int           `json:"uses"`
	TTL  time.Duration `json:"ttl"`
}

type TerminalArgs struct {
	Terminal string `json:"terminal"`
}

type StaffArgs struct {
	User string `json:"user"`
}

type StaffCreateArgs struct {
	User     string `json:"user"`
	Password string `json:"password"`
	Role     Role   `json:"role"`
}

type IMLSArgs struct {
	Year int `json:"year"`
}

type AuditArgs struct {
	SinceID int64 `json:"since_id"`
	Limit   int   `json:"limit"`
}

// TerminalView is a terminal as the console shows it. Every string in it came
// from an agent or IT and is shown as plain text.
type TerminalView struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Branch   string    `json:"branch,omitempty"` // the branch it is in (ValidBranch), "" for none
	Online   bool      `json:"online"`
	Revoked  bool      `json:"revoked"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	// Since is when the terminal entered its current display state.
	Since       time.Time `json:"since,omitzero"`
	Status      *Status   `json:"status,omitempty"`
	CertExpires time.Time `json:"cert_expires,omitzero"`
}

// DisplayState is the one word a tile shows for a terminal: offline and revoked
// come from the hub, the rest from the agent's status. It is a type, with its
// strings in one place, so the console's colours, filters and counts cannot drift
// from what the hub means.
type DisplayState string

const (
	StateFree    DisplayState = DisplayState(SessionFree)
	StateInUse   DisplayState = DisplayState(SessionInUse)
	StateLocked  DisplayState = DisplayState(SessionLocked)
	StateWiping  DisplayState = DisplayState(SessionWiping)
	StateDirty   DisplayState = DisplayState(SessionDirty)
	StateOffline DisplayState = "offline"
	StateRevoked DisplayState = "revoked"
	StateUnknown DisplayState = DisplayState(SessionUnknown)
)

// DisplayStates lists every display state in the order a room shows them.
var DisplayStates = []DisplayState{StateFree, StateInUse, StateLocked, StateWiping, StateDirty,
	StateOffline, StateRevoked, StateUnknown}

func (s DisplayState) String() string { return string(s) }

// DisplayState is the one word a tile shows: offline and revoked come from the
// hub, the rest from the agent's status.
func (t TerminalView) DisplayState() DisplayState {
	switch {
	case t.Revoked:
		return StateRevoked
	case !t.Online:
		return StateOffline
	case t.Status == nil:
		return StateUnknown
	case t.Status.Session == SessionDirty:
		return StateDirty
	case t.Status.Session == SessionWiping:
		return StateWiping
	case t.Status.Locked || t.Status.Session == SessionLocked:
		return StateLocked
	}
	return DisplayState(t.Status.Session)
}

// EventView is a stored agent event. ID is the hub's own order across terminals.
type EventView struct {
	ID       int64             `json:"id"`
	Terminal string            `json:"terminal"`
	Seq      uint64            `json:"seq"`
	Time     time.Time         `json:"time"`
	Kind     EventKind         `json:"kind"`
	Severity Severity          `json:"severity"`
	Data     map[string]string `json:"data,omitempty"`
}

type TokenView struct {
	Token        string    `json:"token"`
	Fingerprint  string    `json:"fingerprint"`
	ExpiresAt    time.Time `json:"expires_at"`
	Uses         int       `json:"uses"`
	HubURL       string    `json:"hub_url"`
	AgentCommand string    `json:"agent_command"` // carrel-agent enroll ...
	MSICommand   string    `json:"msi_command"`   // msiexec /i carrel-agent-VERSION-x64.msi /qn HUB_URL=...
	DebCommand   string    `json:"deb_command"`   // the preseed + apt line
	// MSIFile and DebFile are the package files the lines install, named as
	// carrel-package names them (AgentMSIFile, AgentDebFile).
	MSIFile string `json:"msi_file,omitempty"`
	DebFile string `json:"deb_file,omitempty"`
	// NoPublicName: the hub was started without a public name (carrel-hub
	// serve --name), so HubURL names a loopback address only the hub's own
	// machine can reach.
	NoPublicName bool `json:"no_public_name,omitempty"`
}

type QuarantineView struct {
	Terminal string    `json:"terminal"`
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	SHA256   string    `json:"sha256"`
	Size     int64     `json:"size"`
	Reason   string    `json:"reason"`
	Time     time.Time `json:"time"`
	Released bool      `json:"released"`
}

type StaffView struct {
	User      string    `json:"user"`
	Role      Role      `json:"role"`
	Created   time.Time `json:"created"`
	Disabled  bool      `json:"disabled"`
	LastLogin time.Time `json:"last_login,omitzero"`
}

type AuditView struct {
	ID       int64       `json:"id"`
	Time     time.Time   `json:"time"`
	Actor    string      `json:"actor"`
	Action   AuditAction `json:"action"`
	Terminal string      `json:"terminal,omitempty"`
	Detail   string      `json:"detail,omitempty"`
	Result   string      `json:"result"`
}

type AuditVerifyView struct {
	OK      bool   `json:"ok"`
	Rows    int64  `json:"rows"`
	BadRow  int64  `json:"bad_row,omitempty"`
	Problem string `json:"problem,omitempty"`
}

type HubInfo struct {
	Fingerprint string `json:"fingerprint"`
	HubURL      string `json:"hub_url"`
	// NoPublicName is TokenView's: HubURL is only a loopback guess.
	NoPublicName bool   `json:"no_public_name,omitempty"`
	Version      string `json:"version"`
	User         string `json:"user"`
	Role         Role   `json:"role"`
	// AuditHead is the hub's signed audit head now (AuditHead.String).
	AuditHead string `json:"audit_head,omitempty"`
}

// Validate checks a staff request's shape; the op's args are decoded strictly by
// the handler with DecodeJSON.
func (r *StaffRequest) Validate() error {
	const t = Type("staff")
	if err := short(t, "op", string(r.Op), true); err != nil {
		return err
	}
	if len(r.Args) > MaxFrame/2 {
		return &FieldError{t, "args", "is too large"}
	}
	return nil
}

// DecodeStaffRequest strictly decodes one frame from a console.
func DecodeStaffRequest(data []byte) (*StaffRequest, error) {
	var r StaffRequest
	if err := DecodeJSON(data, MaxFrame, &r); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeStaffFrame strictly decodes one frame from the hub.
func DecodeStaffFrame(data []byte) (*StaffFrame, error) {
	var f StaffFrame
	if err := DecodeJSON(data, MaxStaffFrame, &f); err != nil {
		return nil, err
	}
	if (f.Response == nil) == (f.Push == nil) {
		return nil, fmt.Errorf("decode staff frame: %w: exactly one of response and push must be set", ErrInvalid)
	}
	return &f, nil
}
