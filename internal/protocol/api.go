package protocol

import "time"

// The read-only API (internal/api): API keys and webhooks made by an admin,
// and what the API's feed and webhooks say. Nothing here names a patron.

// Audit actions of the API's keys and webhooks.
const (
	AuditAPIKeyCreate  AuditAction = "apikey.create"  // an API key made (shown once)
	AuditAPIKeyRevoke  AuditAction = "apikey.revoke"  // an API key revoked
	AuditAPIRefused    AuditAction = "apikey.refused" // a key refused another branch's data; detail count: how many in the window
	AuditWebhookCreate AuditAction = "webhook.create" // a webhook target registered
	AuditWebhookDelete AuditAction = "webhook.delete" // a webhook target removed
)

// Audit detail keys of the API's rows.
const (
	AuditKeyURL = "url" // a webhook's target URL
)

// APIKeyPrefix starts every API key, so that a key pasted somewhere it should
// not be is recognisable (and greppable).
const APIKeyPrefix = "carrel_"

// APIKeyView is an API key as an admin lists it: never the key itself, which
// is shown once, when made.
type APIKeyView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Branch    string    `json:"branch,omitempty"` // "" reads every branch
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	LastUsed  time.Time `json:"last_used,omitzero"`
}

// APIKeyCreated answers the making of a key: Key is shown this once.
type APIKeyCreated struct {
	APIKeyView
	Key string `json:"key"`
}

// WebhookView is a webhook target as an admin lists it (never its secret).
type WebhookView struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Branch    string    `json:"branch,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	Delivered int64     `json:"delivered"`
	// Dead is how many events were given up on (dead-lettered): every retry
	// failed, or the target's queue was full.
	Dead      int64  `json:"dead"`
	LastError string `json:"last_error,omitempty"`
}

// FeedKind names an event of the API's feed and webhooks.
type FeedKind string

const (
	FeedState          FeedKind = "state"           // a terminal's display state, online or branch changed
	FeedSessionStarted FeedKind = "session.started" // a patron session began
	FeedSessionEnded   FeedKind = "session.ended"   // a patron session ended
	FeedDropped        FeedKind = "dropped"         // the last event of a feed the hub closed: too slow, key revoked, shutting down
)

// FeedEvent is one event of the feed (the SSE data line) and of a webhook
// POST (its body). A session event carries the kind of patron (card or
// guest) and why it ended, never who.
type FeedEvent struct {
	ID       uint64       `json:"id"`
	Kind     FeedKind     `json:"kind"`
	Time     time.Time    `json:"time"`
	Terminal string       `json:"terminal,omitempty"`
	Name     string       `json:"name,omitempty"`
	Branch   string       `json:"branch,omitempty"`
	State    DisplayState `json:"state,omitempty"`
	Online   bool         `json:"online"`
	Since    time.Time    `json:"since,omitzero"`
	Patron   PatronKind   `json:"patron_kind,omitempty"`
	Ended    string       `json:"end_reason,omitempty"`
	Reason   string       `json:"reason,omitempty"` // on dropped: why
}

// APITerminal is a terminal as the API shows it: its one display state, and of
// a patron session only its kind and end (never the patron's pseudonym or
// grant). Name is IT's or the agent's; show it as plain text.
type APITerminal struct {
	ID     string       `json:"id"`
	Name   string       `json:"name"`
	Branch string       `json:"branch"`
	State  DisplayState `json:"state"`
	Online bool         `json:"online"`
	Since  time.Time    `json:"since,omitzero"`
	Patron *APIPatron   `json:"patron,omitempty"`
}

// APIPatron is what the API says of a patron session on a PC.
type APIPatron struct {
	Kind PatronKind `json:"kind"`
	Ends time.Time  `json:"ends,omitzero"`
}

// APIBranch is a branch and how many of its PCs are in each display state.
type APIBranch struct {
	Name   string               `json:"name"` // "" for the PCs in no branch
	Total  int                  `json:"total"`
	States map[DisplayState]int `json:"states"`
}

// APICount is one figure of a usage report: a metric's total over the period
// starting at Start (the query's "by": hour, day, week or month).
type APICount struct {
	Start  time.Time `json:"start"`
	Branch string    `json:"branch,omitempty"`
	Metric Metric    `json:"metric"`
	Label  string    `json:"label,omitempty"`
	Value  int64     `json:"value"`
}

// APIError is every refusal's body: what went wrong, and the query parameter
// at fault when one was.
type APIError struct {
	Error string `json:"error"`
	Param string `json:"param,omitempty"`
}

// APIHealth is the body of /healthz and /readyz.
type APIHealth struct {
	OK     bool              `json:"ok"`
	Checks map[string]string `json:"checks,omitempty"` // check → "ok" or what failed
}

// Staff ops for the API's keys and webhooks (admin only): the console's API tab
// and `carrel-hub apikey|webhook` make and list them.
const (
	OpAPIKeyCreate  StaffOp = "apikey.create"  // APIKeyArgs → APIKeyCreated (the key, shown once); admin
	OpAPIKeyList    StaffOp = "apikey.list"    // → []APIKeyView; admin
	OpAPIKeyRevoke  StaffOp = "apikey.revoke"  // APIKeyRevokeArgs → APIKeyView; admin
	OpWebhookCreate StaffOp = "webhook.create" // WebhookArgs → WebhookView; admin
	OpWebhookList   StaffOp = "webhook.list"   // → []WebhookView (with delivered and dead counts); admin
	OpWebhookDelete StaffOp = "webhook.delete" // WebhookDeleteArgs → nothing; admin
)

type APIKeyArgs struct {
	Name   string `json:"name"`
	Branch string `json:"branch,omitempty"`
}

type APIKeyRevokeArgs struct {
	Key string `json:"key"` // its ID, or its name when one live key has it
}

type WebhookArgs struct {
	URL    string `json:"url"`
	Secret string `json:"secret"` // 16 bytes or more; kept by the hub to sign with
	Branch string `json:"branch,omitempty"`
}

type WebhookDeleteArgs struct {
	ID string `json:"id"`
}
