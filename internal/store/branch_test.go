package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// A token made for a branch puts its PCs there; a PC can be moved, audited,
// and a bad name or an unknown PC is refused.
func TestBranches(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	h := sha256.Sum256([]byte("branch token"))
	if err := s.CreateBranchToken(ctx, h, 2, time.Now().Add(time.Hour), "Main/Floor 2", "test"); err != nil {
		t.Fatal(err)
	}
	branch, err := s.RedeemBranchToken(ctx, h)
	if err != nil || branch != "Main/Floor 2" {
		t.Fatalf("redeem: %q %v", branch, err)
	}
	if err := s.AddTerminal(ctx, Terminal{ID: "t-1", Name: "pc-1", OS: "linux", CertSerial: "s1",
		CertNotAfter: time.Now().Add(time.Hour), Branch: branch}, "enroll:test"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Terminal(ctx, "t-1")
	if err != nil || got.Branch != "Main/Floor 2" {
		t.Fatalf("enrolled into %q, %v", got.Branch, err)
	}
	if err := s.SetBranch(ctx, "t-1", "Westside", "staff:ann"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Terminal(ctx, "t-1"); got.Branch != "Westside" {
		t.Fatalf("after the move: %q", got.Branch)
	}
	if err := s.SetBranch(ctx, "t-9", "Westside", "staff:ann"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown PC: %v", err)
	}
	if err := s.SetBranch(ctx, "t-1", "Main\nFloor", "staff:ann"); err == nil {
		t.Fatal("a name with a newline was taken")
	}
	if err := s.CreateBranchToken(ctx, sha256.Sum256([]byte("x")), 1, time.Now().Add(time.Hour), " Main", "test"); err == nil {
		t.Fatal("a token for a name with a leading space was made")
	}
	rows, err := s.AuditLog(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var moved, enrolled bool
	for _, r := range rows {
		switch {
		case r.Action == protocol.AuditSetBranch && r.Target == "t-1" && r.Actor == "staff:ann" && strings.Contains(r.Detail, `"branch":"Westside"`):
			moved = true
		case r.Action == protocol.AuditEnroll && strings.Contains(r.Detail, `"branch":"Main/Floor 2"`):
			enrolled = true
		}
	}
	if !moved || !enrolled {
		t.Fatalf("audit: moved %v enrolled %v in %+v", moved, enrolled, rows)
	}
	if _, err := s.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}
