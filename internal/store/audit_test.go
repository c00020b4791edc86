package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// rewriteChain is what someone with the database file and no key can do: drop
// the triggers, change a row, recompute every hash from there on, and put the
// triggers back, so that the chain by itself verifies.
func rewriteChain(t *testing.T, s *Store, edit string) {
	t.Helper()
	for _, q := range []string{`DROP TRIGGER audit_no_update`, edit} {
		if _, err := s.w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := s.AuditLog(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	prev := make([]byte, sha256.Size)
	for _, r := range rows {
		h := chain(prev, canonical(r.Seq, r.Time.UnixMilli(), r.Actor, string(r.Action), r.Target, r.Detail))
		if _, err := s.w.Exec(`UPDATE audit SET prev = ?, hash = ? WHERE seq = ?`, prev, h, r.Seq); err != nil {
			t.Fatal(err)
		}
		prev = h
	}
	if _, err := s.w.Exec(`CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`); err != nil {
		t.Fatal(err)
	}
}

func keyed(t *testing.T, s *Store) AuditKey {
	t.Helper()
	seq, _, err := s.AuditHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	k, err := LoadOrCreateAuditKey(filepath.Join(t.TempDir(), AuditKeyFile), seq+1)
	if err != nil {
		t.Fatal(err)
	}
	s.SetAuditKey(k)
	return k
}

// TestAuditRewriteWithRecomputedHashes: a row's actor changed to another staff
// member and the chain recomputed verifies without the key (the 2026-11 hole)
// and is named with it.
func TestAuditRewriteWithRecomputedHashes(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	s.Audit(ctx, "hub", "before.key", "", nil) // a row from before the hub had a key
	k := keyed(t, s)
	if k.From != 2 {
		t.Fatalf("key covers rows from %d, want 2", k.From)
	}
	for _, who := range []string{"staff:ann", "staff:bob", "staff:ann"} {
		s.Audit(ctx, who, protocol.AuditCommand, "t-1", nil)
	}
	if n, err := s.VerifyAudit(ctx); err != nil || n != 4 {
		t.Fatalf("clean keyed log: %d %v", n, err)
	}
	rewriteChain(t, s, `UPDATE audit SET actor = 'staff:ann' WHERE seq = 3`)
	var ae *AuditError
	if _, err := s.VerifyAudit(ctx); !errors.As(err, &ae) || ae.Seq != 3 || !strings.Contains(ae.Reason, "MAC") {
		t.Fatalf("rewritten row 3 with recomputed hashes: %v", err)
	}
	// The same file checked without the key holds together: the MACs are what
	// tell.
	s.auditKey = nil
	if _, err := s.VerifyAudit(ctx); err != nil {
		t.Fatalf("without the key the rewrite is invisible, as it was: %v", err)
	}
}

// TestAuditKeyFile: a key file loads back as made (0600), and a missing or
// damaged one is refused rather than replaced in silence.
func TestAuditKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), AuditKeyFile)
	k, err := LoadOrCreateAuditKey(path, 12)
	if err != nil || k.From != 12 || len(k.Key) != 32 {
		t.Fatalf("new key: %+v %v", k, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}
	again, err := LoadOrCreateAuditKey(path, 99)
	if err != nil || again.From != 12 || !bytes.Equal(again.Key, k.Key) {
		t.Fatalf("reloaded key: %+v %v", again, err)
	}
	os.WriteFile(path, []byte("carrel audit key v1\nkey=zz\nfrom=1\n"), 0o600)
	if _, err := LoadOrCreateAuditKey(path, 1); err == nil {
		t.Fatal("damaged key file accepted")
	}
}

// TestAuditHeadsShowTruncationAndRewind: rows cut off the end, or a chain put
// back to an older copy, keep chain and MACs valid; a head signed before
// names the rows that are gone.
func TestAuditHeadsShowTruncationAndRewind(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	keyed(t, s)
	for i := 0; i < 5; i++ {
		s.Audit(ctx, "staff:ann", protocol.AuditCommand, "t-1", nil)
	}
	seq, hash, _ := s.AuditHead(ctx)
	head := protocol.AuditHead{Seq: seq, Hash: hash, Time: time.Now()}
	if err := s.CheckAuditHeads(ctx, []protocol.AuditHead{head}); err != nil {
		t.Fatalf("the chain against its own head: %v", err)
	}
	if _, err := s.w.Exec(`DROP TRIGGER audit_no_delete`); err != nil {
		t.Fatal(err)
	}
	s.w.Exec(`DELETE FROM audit WHERE seq > 3`)
	if _, err := s.VerifyAudit(ctx); err != nil {
		t.Fatalf("a cut chain is intact by itself: %v", err)
	}
	var ae *AuditError
	if err := s.CheckAuditHeads(ctx, []protocol.AuditHead{head}); !errors.As(err, &ae) || ae.Seq != 4 || !strings.Contains(ae.Reason, "rows 4 to 5 are missing") {
		t.Fatalf("cut chain against the earlier head: %v", err)
	}
	// Grown again from row 3 (a fork): row 5 exists, with another hash.
	s.Audit(ctx, "staff:ann", "x", "", nil)
	s.Audit(ctx, "staff:ann", "y", "", nil)
	if err := s.CheckAuditHeads(ctx, []protocol.AuditHead{head}); !errors.As(err, &ae) || ae.Seq != 5 || !strings.Contains(ae.Reason, "rewritten") {
		t.Fatalf("forked chain against the earlier head: %v", err)
	}
}

// TestBackupCarriesHeads: heads kept in a backup come back out.
func TestBackupCarriesHeads(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	h := protocol.AuditHead{Seq: 7, Hash: bytes.Repeat([]byte{1}, 32), Time: time.UnixMilli(1_800_000_000_000).UTC(), Sig: []byte{1, 2, 3}}
	if err := s.AddAuditHeads(ctx, h); err != nil {
		t.Fatal(err)
	}
	got, err := s.AuditHeads(ctx)
	if err != nil || len(got) != 1 || got[0].String() != h.String() {
		t.Fatalf("heads: %+v %v", got, err)
	}
}
