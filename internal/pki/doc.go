// Package pki is Carrel's private certificate authority: the hub's CA and server
// certificate kept in the hub's data directory, signing of agent CSRs, CA pinning
// by fingerprint for agents, and enrollment tokens.
//
// It is for the link between carrel-agent and carrel-hub only; it is not a
// general-purpose CA and it keeps no revocation list (revocation is the hub
// store's job: the hub maps certificate serials to terminals and refuses revoked
// ones).
//
// Limitations (2026-11): the CA is never rolled (DESIGN.md plans a roll to a new CA
// while the old one is still trusted); on Windows the data directory's ACL is not
// checked, only on unix systems are its mode bits.
package pki
