// Package protocol defines the wire format shared by carrel-agent, carrel-hub and
// carrel-console: the versioned JSON envelope, every message type of the agent
// link, the enrollment request and response, and their validation.
//
// One message travels in one websocket text frame. Both sides read with a limit of
// MaxFrame bytes and decode with Decode, which refuses an unknown version, an
// unknown type, unknown fields, and missing or oversized fields with an error that
// names the field. Nothing here does I/O; it is the one place the shape of the
// link is written down.
//
// It is also the whole contract between the programs: every event kind and its
// data (events.go), the command argument keys, the display states and audit
// actions (staff.go, audit.go), the staff API's messages and the hub's local
// control socket (control.go). A new kind, action or state is added here and the
// compiler finds every use.
package protocol
