package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func open(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func addTerminal(t testing.TB, s *Store, id, name string) {
	t.Helper()
	err := s.AddTerminal(context.Background(), Terminal{ID: id, Name: name, OS: "linux", CertSerial: "serial-" + id,
		CertNotAfter: time.Now().Add(90 * 24 * time.Hour)}, "test")
	if err != nil {
		t.Fatal(err)
	}
}

func TestWALAndPragmas(t *testing.T) {
	s := open(t)
	var mode string
	if err := s.w.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
	var busy int
	if err := s.r.QueryRow("PRAGMA busy_timeout").Scan(&busy); err != nil || busy < 1000 {
		t.Fatalf("busy_timeout = %d, %v", busy, err)
	}
	addTerminal(t, s, "t-1", "pc") // makes the -wal file exist
	for _, f := range []string{s.Path(), s.Path() + "-wal"} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v %v, want 0600", filepath.Base(f), fi.Mode(), err)
		}
	}
}

func TestTokenRedemption(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	h := sha256.Sum256([]byte("a"))
	if err := s.CreateToken(ctx, h, 2, time.Now().Add(time.Hour), "local:root"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := s.RedeemToken(ctx, h); err != nil {
			t.Fatalf("use %d: %v", i+1, err)
		}
	}
	err := s.RedeemToken(ctx, h)
	var used *TokenUsedError
	if !errors.As(err, &used) || used.Uses != 2 || !errors.Is(err, ErrTokenUsedUp) || err.Error() != "enrollment token already used 2 times" {
		t.Fatalf("third use: %v", err)
	}
	if err := s.RedeemToken(ctx, sha256.Sum256([]byte("b"))); !errors.Is(err, ErrTokenUnknown) {
		t.Fatalf("unknown token: %v", err)
	}

	exp := sha256.Sum256([]byte("c"))
	if err := s.CreateToken(ctx, exp, 5, time.Now().Add(time.Minute), "local:root"); err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if err := s.RedeemToken(ctx, exp); !errors.Is(err, ErrTokenExpired) || errors.Is(err, ErrTokenUsedUp) {
		t.Fatalf("expired token: %v", err)
	}
}

// TestTokenRedemptionConcurrent: an N-use token redeemed by many at once is used
// exactly N times (the check and the decrement are one transaction).
func TestTokenRedemptionConcurrent(t *testing.T) {
	s := open(t)
	// A second Store on the same file, as the CLI and serve would be.
	s2, err := Open(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ctx := context.Background()
	h := sha256.Sum256([]byte("x"))
	if err := s.CreateToken(ctx, h, 5, time.Now().Add(time.Hour), "t"); err != nil {
		t.Fatal(err)
	}
	var ok, usedUp atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(st *Store) {
			defer wg.Done()
			switch err := st.RedeemToken(ctx, h); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrTokenUsedUp):
				usedUp.Add(1)
			default:
				t.Error(err)
			}
		}(map[bool]*Store{true: s, false: s2}[i%2 == 0])
	}
	wg.Wait()
	if ok.Load() != 5 || usedUp.Load() != 15 {
		t.Fatalf("ok=%d usedUp=%d, want 5 and 15", ok.Load(), usedUp.Load())
	}
}

func TestEventsIdempotentAndEpoch(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	addTerminal(t, s, "t-1", "pc-1")
	ev := func(seq uint64) Event {
		return Event{Terminal: "t-1", Seq: seq, Time: time.Now(), Kind: "k", Severity: "info", Data: map[string]string{"n": fmt.Sprint(seq)}}
	}
	n, err := s.Commit(ctx, &Batch{Events: []Event{ev(1), ev(2), ev(3)}})
	if err != nil || n != 3 {
		t.Fatalf("first batch: %d %v", n, err)
	}
	n, err = s.Commit(ctx, &Batch{Events: []Event{ev(2), ev(3), ev(4)}})
	if err != nil || n != 1 {
		t.Fatalf("re-sent batch: inserted %d (want 1) %v", n, err)
	}
	if c, _ := s.CountEvents(ctx, "t-1"); c != 4 {
		t.Fatalf("stored %d events, want 4", c)
	}
	acked, _, reset, err := s.Connect(ctx, "t-1", "", 5)
	if err != nil || acked != 4 || reset {
		t.Fatalf("Connect: acked=%d reset=%v %v", acked, reset, err)
	}
	// The agent lost its outbox and starts at 1 again: a new epoch, nothing dropped.
	acked, _, reset, err = s.Connect(ctx, "t-1", "", 1)
	if err != nil || acked != 0 || !reset {
		t.Fatalf("Connect after reset: acked=%d reset=%v %v", acked, reset, err)
	}
	if n, err := s.Commit(ctx, &Batch{Events: []Event{ev(1)}}); err != nil || n != 1 {
		t.Fatalf("event 1 of the new epoch: inserted %d %v", n, err)
	}
	got, err := s.Events(ctx, "t-1", 0, 10)
	if err != nil || len(got) != 1 || got[0].Data["n"] != "1" {
		t.Fatalf("events of the current epoch: %+v %v", got, err)
	}
	if c, _ := s.CountEvents(ctx, "t-1"); c != 5 {
		t.Fatalf("stored %d events over epochs, want 5", c)
	}
	// Retention: events received before the cut-off go, later ones stay.
	if n, err := s.PruneEvents(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("prune of nothing old: %d %v", n, err)
	}
	if n, err := s.PruneEvents(ctx, time.Now().Add(time.Minute)); err != nil || n != 5 {
		t.Fatalf("prune of everything: %d %v", n, err)
	}
	// Unknown terminal: nothing stored, no error (the hub only sends known ones).
	if n, err := s.Commit(ctx, &Batch{Events: []Event{{Terminal: "nope", Seq: 1, Time: time.Now(), Kind: "k", Severity: "info"}}}); err != nil || n != 0 {
		t.Fatalf("unknown terminal: %d %v", n, err)
	}
}

func TestTerminalsRevokeOffline(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	addTerminal(t, s, "t-1", "pc-1")
	addTerminal(t, s, "t-2", "pc-2")
	addTerminal(t, s, "t-3", "pc-2")
	if _, _, _, err := s.Connect(ctx, "t-1", "", 1); err != nil {
		t.Fatal(err)
	}
	if got, err := s.FindTerminal(ctx, "PC-1"); err != nil || got.ID != "t-1" || !got.Online {
		t.Fatalf("FindTerminal by name: %+v %v", got, err)
	}
	if _, err := s.FindTerminal(ctx, "pc-2"); !errors.Is(err, ErrAmbiguous) {
		t.Fatalf("ambiguous name: %v", err)
	}
	if _, err := s.FindTerminal(ctx, "pc-9"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing name: %v", err)
	}
	if err := s.Revoke(ctx, "t-1", "local:root"); err != nil {
		t.Fatal(err)
	}
	term, revoked, err := s.TerminalByCert(ctx, "serial-t-1")
	if err != nil || !revoked || term.ID != "t-1" || term.Online {
		t.Fatalf("TerminalByCert after revoke: %+v revoked=%v %v", term, revoked, err)
	}
	if _, _, err := s.TerminalByCert(ctx, "never-issued"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown serial: %v", err)
	}
	// t-1 is revoked: not listed; t-2 and t-3 expire in 90 days.
	if exp, err := s.CertsExpiring(ctx, time.Now().Add(100*24*time.Hour)); err != nil || len(exp) != 2 || exp[0].ID == "t-1" {
		t.Fatalf("CertsExpiring(100 days): %+v %v", exp, err)
	}
	if exp, _ := s.CertsExpiring(ctx, time.Now().Add(30*24*time.Hour)); len(exp) != 0 {
		t.Fatalf("CertsExpiring(30 days): %+v", exp)
	}
	s.Connect(ctx, "t-2", "", 1)
	if err := s.MarkAllOffline(ctx); err != nil {
		t.Fatal(err)
	}
	all, _ := s.Terminals(ctx)
	for _, x := range all {
		if x.Online {
			t.Fatalf("%s still online after MarkAllOffline", x.ID)
		}
	}
}

func TestAuditChainAndTamper(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if err := s.Audit(ctx, "local:root", "test", fmt.Sprint(i), map[string]string{"i": fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.VerifyAudit(ctx); err != nil || n != 5 {
		t.Fatalf("VerifyAudit on a clean log: %d %v", n, err)
	}
	log, _ := s.AuditLog(ctx, 0, 10)
	if seq, head, err := s.AuditHead(ctx); err != nil || seq != 5 || string(head) != string(log[4].Hash) {
		t.Fatalf("AuditHead: %d %x %v", seq, head, err)
	}
	// The triggers refuse changes through SQL.
	if _, err := s.w.Exec(`UPDATE audit SET actor = 'mallory' WHERE seq = 3`); err == nil {
		t.Fatal("UPDATE on audit accepted")
	}
	if _, err := s.w.Exec(`DELETE FROM audit WHERE seq = 3`); err == nil {
		t.Fatal("DELETE on audit accepted")
	}
	// Someone with the file drops the triggers and edits row 3: VerifyAudit names it.
	tamper := func(sql ...string) {
		for _, q := range sql {
			if _, err := s.w.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
	}
	tamper(`DROP TRIGGER audit_no_update`, `UPDATE audit SET detail = '{"i":"9"}' WHERE seq = 3`)
	_, err := s.VerifyAudit(ctx)
	var ae *AuditError
	if !errors.As(err, &ae) || ae.Seq != 3 || !errors.Is(err, ErrAuditBroken) {
		t.Fatalf("tampered row 3: %v", err)
	}
}

func TestAuditDeletedRowDetected(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		s.Audit(ctx, "a", "b", "c", nil)
	}
	if _, err := s.w.Exec(`DROP TRIGGER audit_no_delete`); err != nil {
		t.Fatal(err)
	}
	s.w.Exec(`DELETE FROM audit WHERE seq = 2`)
	var ae *AuditError
	if _, err := s.VerifyAudit(ctx); !errors.As(err, &ae) || ae.Seq != 2 {
		t.Fatalf("deleted row 2: %v", err)
	}
}

func TestBackup(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	addTerminal(t, s, "t-1", "pc-1")
	s.Commit(ctx, &Batch{Events: []Event{{Terminal: "t-1", Seq: 1, Time: time.Now(), Kind: "k", Severity: "info"}}})
	dst := filepath.Join(t.TempDir(), "backup.db")
	if err := s.Backup(ctx, dst); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, dst); err == nil {
		t.Fatal("backup over an existing file accepted")
	}
	b, err := Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, err := b.Terminal(ctx, "t-1"); err != nil || got.Name != "pc-1" {
		t.Fatalf("backup terminal: %+v %v", got, err)
	}
	if n, _ := b.CountEvents(ctx, "t-1"); n != 1 {
		t.Fatalf("backup events: %d", n)
	}
	if n, err := b.VerifyAudit(ctx); err != nil || n != 1 {
		t.Fatalf("backup audit: %d %v", n, err)
	}
}

func TestCommands(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	now := time.Now()
	c := Command{ID: "c-1", Terminal: "t-1", Action: "lock", Args: map[string]string{"why": "x"}, IssuedBy: "local:root", IssuedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := s.AddCommand(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishCommand(ctx, "c-1", true, "locked"); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetCommand(ctx, "c-1")
	if err != nil || !got.OK || !got.Answered || got.Result != "locked" || got.Args["why"] != "x" {
		t.Fatalf("GetCommand: %+v %v", got, err)
	}
	log, _ := s.AuditLog(ctx, 0, 10)
	if len(log) != 2 || log[0].Action != "command" || log[1].Action != "command.result" {
		t.Fatalf("audit: %+v", log)
	}
	if err := s.FinishCommand(ctx, "nope", true, ""); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("finish unknown command: %v", err)
	}
}

func BenchmarkCommit256(b *testing.B) {
	s := open(b)
	addTerminal(b, s, "t-1", "pc")
	ctx := context.Background()
	seq := uint64(0)
	batch := &Batch{Events: make([]Event, 256)}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range batch.Events {
			seq++
			batch.Events[j] = Event{Terminal: "t-1", Seq: seq, Time: time.Now(), Kind: "download.blocked", Severity: "warn", Data: map[string]string{"file": "setup.exe"}}
		}
		if _, err := s.Commit(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*256), "ns/event")
}

// TestMigratePreviousRelease opens a copy of a database that the previous
// release's carrel-hub made (testdata/hub-2026-11.db: `carrel-hub serve` of
// commit 329ec9e with three load-generator agents enrolled, 90 events, one admin,
// a token and their audit rows), and checks it is brought to the current version
// with its data intact and its audit chain unbroken.
func TestMigratePreviousRelease(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "hub-2026-11.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hub.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for round := 0; round < 2; round++ { // the second open finds it current
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var v int
		if err := s.r.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil || v != SchemaVersion() {
			t.Fatalf("schema version %d (%v), want %d", v, err, SchemaVersion())
		}
		ts, err := s.Terminals(ctx)
		if err != nil || len(ts) != 3 || ts[0].Name != "lg-00000" || len(ts[0].LastStatus) == 0 {
			t.Fatalf("terminals: %+v %v", ts, err)
		}
		if n, err := s.TotalEvents(ctx); err != nil || n != 90+round {
			t.Fatalf("events: %d %v", n, err)
		}
		if id, err := s.LastEventID(ctx); err != nil || id != 90+int64(round) {
			t.Fatalf("last event id: %d %v", id, err)
		}
		if a, err := s.StaffByName(ctx, "ann"); err != nil || a.Role != "admin" {
			t.Fatalf("staff: %+v %v", a, err)
		}
		if n, err := s.VerifyAudit(ctx); err != nil || n == 0 {
			t.Fatalf("audit chain: %d rows, %v", n, err)
		}
		// New rows go on from the old ones.
		if _, err := s.Commit(ctx, &Batch{Events: []Event{{Terminal: ts[0].ID, Seq: ts[0].AckedSeq + 1, Time: time.Now(), Kind: "k", Severity: "info"}}}); err != nil {
			t.Fatal(err)
		}
		if id, _ := s.LastEventID(ctx); id != 91+int64(round) {
			t.Fatalf("next event id %d", id)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRefuseNewerSchema refuses a database a newer carrel-hub migrated.
func TestRefuseNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`UPDATE schema_version SET version = ?`, SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(path)
	if !errors.Is(err, ErrSchemaNewer) || !strings.Contains(err.Error(), "newer carrel-hub") {
		t.Fatalf("open of a newer database: %v", err)
	}
}
