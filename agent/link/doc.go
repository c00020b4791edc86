// Package link is the agent's side of the link to carrel-hub: enrollment and the
// long-lived mutual-TLS websocket.
//
// Enroll makes the agent's ECDSA P-256 key locally, sends a CSR with IT's
// enrollment token to the hub over TLS whose only trust is the CA fingerprint IT
// gave (pki.VerifyPinned: a hub that does not match fails the handshake before the
// token is sent), and stores the key and certificate, the pinned CA and the
// terminal ID in the state directory.
//
// Client.Run dials the hub (wss, the client certificate, the pinned CA as the only
// root, no Origin header, no compression, read limit protocol.MaxFrame), sends
// Hello with the full status, receives Welcome, drops what the hub already
// stored from the outbox, sends the rest in order and then new events as they are
// emitted, sends status on change and every status interval, and answers every
// staff command with a Result (refusing misaddressed, expired, replayed and
// unknown ones; seen command IDs are persisted until they expire). It reconnects
// with capped exponential backoff and full jitter; a hub that refuses the
// certificate (revoked) is retried slowly and logged as an error IT must act on.
// The certificate is renewed over the live link at two thirds of its life.
// A reconnection resumes the TLS session of the current certificate (after a
// hub restart too: the hub keeps its ticket keys), so a fleet coming back after
// a restart sends, signs and verifies no certificate chains again.
//
// Client.SignIn sends a patron's sign-in (protocol.SignIn) over the live link
// and waits for the SignInAnswer with its ID: at once ErrNoLink without a
// link, or when the link drops while it waits; its caller bounds the wait.
// The sign-in is encoded once into the frame the writer sends and is never
// logged. The hub's GrantUpdate frames go to Options.OnGrant.
//
// It is not the hub side (internal/hub) and opens no listening port.
//
// Limitations (2026-11): no HTTP proxy support (the agent dials the hub
// directly); a command's result produced while the link is down is kept in
// memory only (lost if the agent also restarts before reconnecting).
package link
