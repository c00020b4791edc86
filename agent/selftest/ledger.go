package selftest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/carrel-kiosk/carrel/agent/downloads"
	"github.com/carrel-kiosk/carrel/internal/atomicfile"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// The ledger: before a canary is made, an entry naming it is written and
// synced in Dir/ledger; once the canary is gone again, the entry is removed.
// A self-test killed in between leaves the entry, and Cleanup (at the next
// Run, and at every agent start) removes what it names. Nothing else is ever
// removed by Cleanup: a file only when its name is the entry's canary name, an
// account only when it is the canary account.

type entryKind string

const (
	entryFile    entryKind = "file"    // a canary file or program at Path
	entryAccount entryKind = "account" // the canary account Name
)

type entry struct {
	Kind entryKind `json:"kind"`
	Name string    `json:"name"`           // the canary's file name, or the account's name
	Path string    `json:"path,omitempty"` // a file's full path
}

func (e *Env) ledgerDir() string { return filepath.Join(e.dir(), "ledger") }

// record writes en to the ledger, synced, before the canary exists.
func (e *Env) record(en entry) error {
	if _, err := e.privateDir(); err != nil {
		return err
	}
	if err := os.MkdirAll(e.ledgerDir(), 0o700); err != nil {
		return fmt.Errorf("canary ledger: %w", err)
	}
	data, _ := json.Marshal(en)
	if err := atomicfile.WriteFile(filepath.Join(e.ledgerDir(), en.Name+".json"), data, 0o600); err != nil {
		return fmt.Errorf("canary ledger: %w", err)
	}
	e.Canaries.set(en.Name, true)
	return nil
}

// undo removes what en names and then en itself.
func (e *Env) undo(ctx context.Context, en entry) error {
	var err error
	switch en.Kind {
	case entryFile:
		err = e.removeCanaryFile(en)
	case entryAccount:
		err = removeCanaryAccount(ctx, e, en.Name)
	default:
		err = fmt.Errorf("unknown canary kind %q", en.Kind)
	}
	if err != nil {
		return fmt.Errorf("remove canary %s: %w", en.Name, err)
	}
	e.Canaries.set(en.Name, false)
	if err := os.Remove(filepath.Join(e.ledgerDir(), en.Name+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("canary ledger: %w", err)
	}
	return nil
}

// removeCanaryFile removes the canary at en.Path (never anything not named
// like a canary) and any quarantine record the download guard made of it.
func (e *Env) removeCanaryFile(en entry) error {
	if !strings.HasPrefix(en.Name, CanaryPrefix) || filepath.Base(en.Path) != en.Name {
		return fmt.Errorf("ledger entry %q does not name a canary", en.Path)
	}
	var errs []error
	if err := os.Remove(en.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	if qd := e.Config.Downloads.QuarantineDir; qd != "" {
		if _, err := os.Lstat(qd); err == nil {
			errs = append(errs, discardQuarantined(qd, en.Path))
		}
	}
	return errors.Join(errs...)
}

// discardQuarantined discards every quarantine record of the file at path.
func discardQuarantined(qdir, path string) error {
	q := downloads.QuarantineAt(qdir)
	recs, lerr := q.List()
	var errs []error
	for _, r := range recs {
		if r.OriginalPath == path {
			errs = append(errs, q.Discard(r.ID))
		}
	}
	if len(errs) == 0 && lerr != nil {
		return nil // a malformed record is another file's; not the canary's business
	}
	return errors.Join(errs...)
}

// cleanup removes every canary the ledger names. The caller holds the lock.
func cleanup(ctx context.Context, e *Env) error {
	ents, err := os.ReadDir(e.ledgerDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("canary ledger: %w", err)
	}
	var errs []error
	for _, d := range ents {
		name, ok := strings.CutSuffix(d.Name(), ".json")
		if !ok || !d.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(e.ledgerDir(), d.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var en entry
		if err := json.Unmarshal(data, &en); err != nil || en.Name != name {
			errs = append(errs, fmt.Errorf("canary ledger entry %s is unreadable", d.Name()))
			continue
		}
		if err := e.undo(ctx, en); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// summaryFile keeps the last run's summary in Dir, for the next start.
const summaryFile = "last.json"

// SaveSummary keeps s as the last self-test's summary (the agent's status
// shows it again after a restart).
func SaveSummary(e *Env, s protocol.SelfTestSummary) error {
	d, err := e.privateDir()
	if err != nil {
		return err
	}
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(d, summaryFile), data, 0o600)
}

// LoadSummary reads the summary SaveSummary kept; fs.ErrNotExist when none.
// A summary that does not validate (as the Status would carry it) is an error.
func LoadSummary(e *Env) (protocol.SelfTestSummary, error) {
	var s protocol.SelfTestSummary
	data, err := os.ReadFile(filepath.Join(e.dir(), summaryFile))
	if err != nil {
		return s, err
	}
	if len(data) > 64<<10 {
		return s, errors.New("last self-test summary: too large")
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("last self-test summary: %w", err)
	}
	st := protocol.Status{Hostname: "h", OS: "o", AgentVersion: "v", Session: protocol.SessionUnknown, Proof: &s}
	if err := st.Validate(); err != nil {
		return s, fmt.Errorf("last self-test summary: %w", err)
	}
	return s, nil
}

// Leftovers lists the canaries the ledger still names (for tests and the
// command line's report).
func Leftovers(e *Env) []string {
	ents, _ := os.ReadDir(e.ledgerDir())
	var out []string
	for _, d := range ents {
		if n, ok := strings.CutSuffix(d.Name(), ".json"); ok {
			out = append(out, n)
		}
	}
	return out
}
