package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

// TestUnlockAndResetTOTP: the recovery of 'carrel-hub admin unlock' and
// 'admin reset-totp' clears the lock, and a new secret also ends the
// account's sessions; both are audited, and an unknown name is ErrNotFound.
func TestUnlockAndResetTOTP(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if err := s.CreateStaff(ctx, StaffAccount{User: "ann", Role: "admin", Password: "p", TOTPSecret: "OLD"}, "setup", true); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := 0; i < 5; i++ {
		if _, err := s.LoginFailure(ctx, "ann", "wrong password", "10.0.0.1", now, 5, 15*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	was, err := s.UnlockStaff(ctx, "ANN", "local:root")
	if err != nil || !was.After(now) {
		t.Fatalf("unlock: %v %v, want the lock it lifted", was, err)
	}
	if a, _ := s.StaffByName(ctx, "ann"); !a.LockedUntil.IsZero() || a.Failures != 0 {
		t.Fatalf("after unlock: %+v", a)
	}
	if was, err := s.UnlockStaff(ctx, "ann", "local:root"); err != nil || !was.IsZero() {
		t.Fatalf("unlock of an open account: %v %v", was, err)
	}

	h := sha256.Sum256([]byte("session"))
	if err := s.LoginSuccess(ctx, "ann", 100, h[:], now, now.Add(time.Hour), "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetTOTP(ctx, "ann", "NEW", "local:root"); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.StaffByName(ctx, "ann"); a.TOTPSecret != "NEW" || a.LastStep != 100 {
		t.Fatalf("after reset: %+v, want the new secret and the last step kept", a)
	}
	if _, err := s.SessionByHash(ctx, h[:]); !errors.Is(err, ErrNoSession) {
		t.Fatalf("session after a TOTP reset: %v", err)
	}
	if _, err := s.UnlockStaff(ctx, "nobody", "local:root"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unlock nobody: %v", err)
	}
	if err := s.ResetTOTP(ctx, "nobody", "X", "local:root"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("reset nobody: %v", err)
	}
	rows, err := s.AuditLog(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var unlocks, resets int
	for _, r := range rows {
		switch r.Action {
		case "staff.unlock":
			unlocks++
		case "staff.totp-reset":
			resets++
		}
		if r.Action == "staff.unlock" || r.Action == "staff.totp-reset" {
			if r.Actor != "local:root" {
				t.Errorf("%s audited as %q", r.Action, r.Actor)
			}
		}
	}
	if unlocks != 2 || resets != 1 {
		t.Fatalf("%d unlock and %d reset rows, want 2 and 1", unlocks, resets)
	}
}
