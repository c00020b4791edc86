// Package sip2 is the hub's client for SIP2 (3M Standard Interchange
// Protocol 2.00), the protocol a library's ILS answers "may this card sign
// in?" on. It is what card sign-in stands on; it is not a circulation client
// (no checkout, checkin, holds or fees) and not a server.
//
// It has three parts:
//
//   - The codec: Encode and Decode for the messages card sign-in needs, 93/94
//     (login), 99/98 (SC/ACS status), 23/24 (patron status), 63/64 (patron
//     information) and 96/97 (resend), with their fixed-length parts, the
//     variable fields (two-letter code, value, '|'), the AY sequence number
//     and the AZ checksum (the two's complement of the byte sum up to and
//     including "AZ", four upper-case hex digits), verified whenever present.
//     Reader frames messages off a stream and refuses one over MaxMessage
//     (8 KiB) after reading at most that much. Unknown fields are kept and
//     ignored. Errors are *DecodeError values wrapping ErrChecksum,
//     ErrMissingField, ErrTruncated, ErrTooLong, ErrMalformed and the like.
//     Decode is fuzzed (FuzzDecode).
//   - Profiles: what differs between ILSes, as data (Profile): the
//     terminator sent, checksums sent and required, the charset, which
//     request asks (63 or 23), which field says "valid patron" (BL) and
//     "valid PIN" (CQ) and what their absence means, an expiry field, and
//     which blocks refuse a sign-in. ProfileByName gives koha, evergreen,
//     sierra, sirsidynix and generic; a site overrides any setting.
//   - Client: a small pool of connections (default 2) to one ILS, plain TCP
//     or TLS, that logs in with the hub's SIP account (93) and checks the
//     ACS status (99/98) on each new connection, bounds each Authenticate by
//     one timeout (default 5 s) through context and socket deadlines,
//     retries a lookup once on a fresh connection when the ILS dropped the
//     old one, spaces reconnects with internal/backoff, and answers every
//     failure with an error matching ErrUnavailable.
//
// What it keeps: nothing. A card number and PIN live in memory for one
// request; they are never logged, never put in an error, never stored, and
// Patron carries only the outcome (ok, unknown card, PIN wrong, blocked) and
// the block flags. A wrong PIN reports no blocks: those are the card
// holder's business. Raw messages are never logged, since they hold both.
//
// Limitations (2026-12): the per-ILS profiles were written from public
// sources (Libki's SIP client, which defaults to a '\r' terminator with a
// "\r\n" option and reads BL N as unknown card and CQ Y as PIN right; ILS
// configuration samples with error detection on) and tested only against
// internal/testrig/sip2emu, not against a live Koha, Evergreen, Sierra or
// SirsiDynix. The choices most likely to need a site's override: Sierra's
// "\r\n" terminator, SirsiDynix's Latin-1 charset and required checksums,
// and PA as the expiry field of Koha and Evergreen. The login and password
// algorithms are always "0" (clear text); use TLS or a tunnel to the ILS.
// Card sign-in over the agent link, the PIN hold after repeated failures,
// the keyed pseudonym for daily allowances and the time rules are
// internal/patron's, which the hub runs with this client (carrel-hub serve
// --sip2 and its flags).
package sip2
