// Package hubrig runs the real hub (internal/hub) inside a test process, with
// terminals that speak the real agent protocol, for tests of the staff console
// (console/hubclient, console/xvfbtest) and anything else that needs a hub
// with a room in it.
//
// Start gives a hub on 127.0.0.1 with its own data directory (real TLS, real
// SQLite, no control socket). AddTerminal enrolls a terminal the way an agent
// does (link.Enroll with a token from the hub's store) and runs the agent's own
// link client with its own durable outbox; only the status source and the
// command handlers are the test's: a terminal reports the status the test sets
// (SetStatus), emits the events the test emits (Emit), answers commands with
// the test's function (Answer, default "<action> done") and records them
// (Commands), and goes offline and online when the test says (Disconnect,
// Connect). Staff accounts are made through the staff API itself, with any
// client that has the three calls of StaffClient (console/hubclient.Client
// has): Setup uses the hub's one-time setup code, AddStaff an admin's session,
// and Account.Code gives a TOTP code the hub has not yet accepted for that
// account.
//
// Tap is a relay between a console and the hub that records the console's
// staff requests (what since_event each subscription asked for) and can drop
// every console link, which the hub itself never does on request.
//
// It is for tests only: it fails tests through testing.TB and only _test.go
// files import it. It imports agent/link and agent/outbox, which the console's
// own code never does.
package hubrig
