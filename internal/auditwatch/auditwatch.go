// Package auditwatch keeps, for each hub a console or an agent talks to, the highest
// signed audit head that hub sent it (protocol.AuditHead, in hub.info on every
// connect), and says when a new one does not follow it: a head with a lower
// row number means the hub's audit chain was cut short or restored from an
// older copy; the same row number with another hash means the chain was
// rewritten. Both are what an insider with write access to hub.db would do to
// hide what they did (issue 16 §1): the console shows them as an alert, the
// agent logs them and reports a hub.audit-alarm event.
//
// Every head's signature is checked against the hub's CA (the certificate
// whose fingerprint the console or agent pins) before it is compared or kept; a head
// the CA did not sign is an alert too, and is never kept.
//
// The heads live in one small file (0600, replaced atomically), keyed by the
// CA fingerprint, so a console that restarts still remembers. It is not a copy
// of the audit log: a chain rewritten above the row of the kept head, without
// going back below it, is not seen here (that is `carrel-hub audit verify`'s
// job with the heads in the OS log and the backups).
//
// Limitations (2026-12): only the highest head is kept, so a fork below it
// (the chain rewritten at an older row, then grown past the kept row again)
// is not detected by the console.
package auditwatch

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// FileName is the keeper's file in the console's configuration directory.
const FileName = "audit-heads.json"

// Verdict is how a head a hub sent compares with the highest one kept for it.
type Verdict int

const (
	Missing      Verdict = iota // the hub sent no head (a hub older than heads)
	First                       // the first head seen from this hub: kept
	Advanced                    // a higher row than the one kept: kept
	Same                        // the row and hash kept
	Backwards                   // a lower row than the one kept: alert
	Forked                      // the row kept, with another hash: alert
	BadSignature                // not signed by the hub's CA: alert
	Malformed                   // not a head at all: alert
)

var verdictNames = [...]string{"missing", "first", "advanced", "same", "backwards", "forked", "bad-signature", "malformed"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// Alarm reports whether the verdict is one staff must be told about.
func (v Verdict) Alarm() bool { return v >= Backwards }

// Check is the outcome of one Observe.
type Check struct {
	Verdict Verdict
	Kept    protocol.AuditHead // the highest head kept before this one (zero if none)
	Got     protocol.AuditHead // the head the hub sent (zero if Missing or Malformed)
	Problem string             // for BadSignature and Malformed: why, in words
}

// Text is the check as a sentence for an alert banner ("" when there is
// nothing to say).
func (c Check) Text() string {
	switch c.Verdict {
	case Backwards:
		return fmt.Sprintf("The hub's audit log went backwards: it now ends at entry %d, but on %s it already had %d entries. Entries were removed or the hub was restored from an older copy. Tell IT before anything else changes.",
			c.Got.Seq, c.Kept.Time.UTC().Format("2 Jan 2006 15:04 UTC"), c.Kept.Seq)
	case Forked:
		return fmt.Sprintf("The hub's audit log was rewritten: entry %d is not what the hub signed on %s. Tell IT before anything else changes.",
			c.Got.Seq, c.Kept.Time.UTC().Format("2 Jan 2006 15:04 UTC"))
	case BadSignature, Malformed:
		return "The hub sent an audit head this console cannot trust (" + c.Problem + "). Tell IT."
	}
	return ""
}

// Keeper keeps the highest head per hub in its file. It is safe for
// concurrent use.
type Keeper struct {
	path string

	mu    sync.Mutex        // protects heads and the file
	heads map[string]string // CA fingerprint → head text
}

// file is the keeper's file on disk.
type file struct {
	Version int               `json:"version"`
	Heads   map[string]string `json:"heads"` // CA fingerprint → head text
}

// Open reads the keeper at path (missing: none kept yet). Its directory is
// created (0700) on the first write.
func Open(path string) (*Keeper, error) {
	k := &Keeper{path: path, heads: map[string]string{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit heads: %w", err)
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 {
		return nil, fmt.Errorf("read audit heads %s: not a version 1 heads file", path)
	}
	for fp, h := range f.Heads {
		if _, err := protocol.ParseAuditHead(h); err == nil {
			k.heads[fp] = h
		}
	}
	return k, nil
}

// Path is the keeper's file.
func (k *Keeper) Path() string { return k.path }

// Kept returns the highest head kept for the hub whose CA has fingerprint fp.
func (k *Keeper) Kept(fp string) (protocol.AuditHead, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	h, err := protocol.ParseAuditHead(k.heads[fp])
	return h, err == nil
}

// Observe checks head, the text form a hub sent, against the highest head
// kept for the hub whose CA is ca, and keeps it if it is signed by ca and
// higher. The error is only about writing the file; the Check says what the
// head means either way.
func (k *Keeper) Observe(ca *x509.Certificate, head string) (Check, error) {
	if head == "" {
		return Check{Verdict: Missing}, nil
	}
	if ca == nil {
		return Check{Verdict: BadSignature, Problem: "the hub's CA certificate is not known yet"}, nil
	}
	got, err := protocol.ParseAuditHead(head)
	if err != nil {
		return Check{Verdict: Malformed, Problem: err.Error()}, nil
	}
	if err := pki.VerifyAuditHead(ca, got); err != nil {
		return Check{Verdict: BadSignature, Got: got, Problem: err.Error()}, nil
	}
	fp := pki.Fingerprint(ca)
	k.mu.Lock()
	defer k.mu.Unlock()
	c := Check{Got: got}
	kept, err := protocol.ParseAuditHead(k.heads[fp])
	switch {
	case err != nil:
		c.Verdict = First
	case got.Seq > kept.Seq:
		c.Verdict, c.Kept = Advanced, kept
	case got.Seq < kept.Seq:
		return Check{Verdict: Backwards, Kept: kept, Got: got}, nil
	case !bytes.Equal(got.Hash, kept.Hash):
		return Check{Verdict: Forked, Kept: kept, Got: got}, nil
	default:
		return Check{Verdict: Same, Kept: kept, Got: got}, nil
	}
	k.heads[fp] = got.String()
	return c, k.save()
}

// save writes the file; k.mu must be held.
func (k *Keeper) save() error {
	if err := os.MkdirAll(filepath.Dir(k.path), 0o700); err != nil {
		return fmt.Errorf("keep audit head: %w", err)
	}
	b, err := json.MarshalIndent(file{Version: 1, Heads: k.heads}, "", "  ")
	if err != nil {
		return fmt.Errorf("keep audit head: %w", err)
	}
	if err := atomicfile.WriteFile(k.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("keep audit head: %w", err)
	}
	return nil
}
