package protocol

// The hub's control socket (<data>/hub.sock): HTTP over a unix socket for the
// carrel-hub CLI on the hub's own machine. Its command request is the staff
// API's CommandArgs: one shape for "this action to that terminal" whoever asks.

// Control socket paths, with their methods.
const (
	PathControlHealth  = "/health"  // GET → ControlHealthResponse
	PathControlCommand = "/command" // POST CommandArgs → ControlCommandResponse
	PathControlRevoke  = "/revoke"  // POST TerminalArgs → ControlRevokeResponse
	PathControlBranch  = "/branch"  // POST BranchArgs → ControlRevokeResponse (the terminal moved)
	PathControlWake    = "/wake"    // POST WakeArgs → WakeResponse
)

// ControlCommandResponse answers POST PathControlCommand: the agent's Result, or
// Error if the hub could not get one.
type ControlCommandResponse struct {
	Result *Result `json:"result,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// ControlRevokeResponse answers POST PathControlRevoke: the revoked terminal.
type ControlRevokeResponse struct {
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Error string `json:"error,omitempty"`
}

// ControlHealthResponse answers GET PathControlHealth.
type ControlHealthResponse struct {
	OK          bool   `json:"ok"`
	Addr        string `json:"addr"`
	Fingerprint string `json:"fingerprint"`
	Online      int    `json:"online"`
	// ILS is the link to the library's ILS for card sign-in (Hub.ILSLink).
	ILS *ILSLink `json:"ils,omitempty"`
}
