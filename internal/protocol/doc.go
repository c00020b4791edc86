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
// It is not the staff API's home yet (2026-11: the staff messages arrive with the
// console).
package protocol
