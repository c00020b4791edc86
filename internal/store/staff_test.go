package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func TestStaffSetupOnceAndNames(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	a := StaffAccount{User: "Ann", Role: "admin", Password: "$argon2id$x", TOTPSecret: "JBSWY3DPEHPK3PXP"}
	if err := s.CreateStaff(ctx, a, "setup", true); err != nil {
		t.Fatal(err)
	}
	b := StaffAccount{User: "bob", Role: "desk", Password: "$argon2id$y", TOTPSecret: "KRSXG5CTMVRXEZLU"}
	if err := s.CreateStaff(ctx, b, "setup", true); !errors.Is(err, ErrSetupClosed) {
		t.Fatalf("second setup: %v, want ErrSetupClosed", err)
	}
	if err := s.CreateStaff(ctx, StaffAccount{User: "ANN", Role: "desk", Password: "p", TOTPSecret: "s"}, "Ann", false); !errors.Is(err, ErrStaffExists) {
		t.Fatalf("same name in other case: %v, want ErrStaffExists", err)
	}
	if err := s.CreateStaff(ctx, b, "Ann", false); err != nil {
		t.Fatal(err)
	}
	got, err := s.StaffByName(ctx, "ann")
	if err != nil || got.User != "Ann" || got.Role != "admin" || got.Created.IsZero() || got.Disabled {
		t.Fatalf("StaffByName: %+v %v", got, err)
	}
	if err := s.DisableStaff(ctx, "Ann", "Ann"); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("disable the last admin: %v, want ErrLastAdmin", err)
	}
	if err := s.DisableStaff(ctx, "bob", "Ann"); err != nil {
		t.Fatal(err)
	}
	list, err := s.StaffList(ctx)
	if err != nil || len(list) != 2 || !list[1].Disabled || list[0].Disabled {
		t.Fatalf("StaffList: %+v %v", list, err)
	}
	rows, _ := s.AuditLog(ctx, 0, 100)
	var actions []string
	for _, r := range rows {
		actions = append(actions, string(r.Action)+" "+r.Actor)
	}
	want := []string{"staff.setup setup", "staff.create Ann", "staff.disable Ann"}
	if len(actions) != len(want) {
		t.Fatalf("audit %v, want %v", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Fatalf("audit %v, want %v", actions, want)
		}
	}
}

func TestLoginStepOnceLockoutAndSessions(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if err := s.CreateStaff(ctx, StaffAccount{User: "ann", Role: "admin", Password: "p", TOTPSecret: "s"}, "setup", true); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	h1 := sha256.Sum256([]byte("session-1"))
	if err := s.LoginSuccess(ctx, "ann", 1000, h1[:], now, now.Add(time.Hour), "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	h2 := sha256.Sum256([]byte("session-2"))
	for _, step := range []int64{1000, 999} {
		if err := s.LoginSuccess(ctx, "ann", step, h2[:], now, now.Add(time.Hour), "127.0.0.1"); !errors.Is(err, ErrStepUsed) {
			t.Fatalf("step %d after 1000: %v, want ErrStepUsed", step, err)
		}
	}
	if _, err := s.SessionByHash(ctx, h2[:]); !errors.Is(err, ErrNoSession) {
		t.Fatalf("session of a refused login exists: %v", err)
	}
	ss, err := s.SessionByHash(ctx, h1[:])
	if err != nil || ss.User != "ann" || ss.Role != "admin" || !ss.ExpiresAt.Equal(now.Add(time.Hour).Truncate(time.Millisecond)) {
		t.Fatalf("session: %+v %v", ss, err)
	}
	for i := 1; i <= 5; i++ {
		locked, err := s.LoginFailure(ctx, "ann", "wrong password", "10.0.0.1", now, 5, 15*time.Minute)
		if err != nil || locked != (i == 5) {
			t.Fatalf("failure %d: locked %v, %v", i, locked, err)
		}
	}
	a, _ := s.StaffByName(ctx, "ann")
	if !a.LockedUntil.After(now.Add(14*time.Minute)) || a.Failures != 0 {
		t.Fatalf("after 5 failures: %+v", a)
	}
	if err := s.EndSession(ctx, h1[:], "ann", "logout"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByHash(ctx, h1[:]); !errors.Is(err, ErrNoSession) {
		t.Fatalf("session after logout: %v", err)
	}
	if n, err := s.VerifyAudit(ctx); err != nil || n != 8 {
		t.Fatalf("audit: %d rows, %v (want setup, login, 5 failures, logout)", n, err)
	}
}

func TestEventIDsAreHubWideAndNeverReused(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	addTerminal(t, s, "t-1", "pc-1")
	addTerminal(t, s, "t-2", "pc-2")
	ev := func(term string, seq uint64) Event {
		return Event{Terminal: term, Seq: seq, Time: time.Now(), Kind: "k", Severity: "info", Data: map[string]string{"n": term}}
	}
	if _, err := s.Commit(ctx, &Batch{Events: []Event{ev("t-1", 1), ev("t-2", 1), ev("t-1", 2)}}); err != nil {
		t.Fatal(err)
	}
	// A re-sent event is stored once and keeps its ID.
	if _, err := s.Commit(ctx, &Batch{Events: []Event{ev("t-1", 2), ev("t-2", 2)}}); err != nil {
		t.Fatal(err)
	}
	all, err := s.EventsAfter(ctx, 0, "", 100)
	if err != nil || len(all) != 4 {
		t.Fatalf("events: %+v %v", all, err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Fatalf("IDs not increasing: %+v", all)
		}
	}
	if all[2].Terminal != "t-1" || all[2].Seq != 2 || all[3].Terminal != "t-2" || all[3].Seq != 2 {
		t.Fatalf("order: %+v", all)
	}
	if got, _ := s.EventsAfter(ctx, all[1].ID, "t-1", 10); len(got) != 1 || got[0].ID != all[2].ID {
		t.Fatalf("EventsAfter by terminal: %+v", got)
	}
	if got, _ := s.LatestEvents(ctx, 0, "", 2); len(got) != 2 || got[0].ID != all[2].ID || got[1].ID != all[3].ID {
		t.Fatalf("LatestEvents: %+v", got)
	}
	last := all[3].ID
	if _, err := s.PruneEvents(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, &Batch{Events: []Event{ev("t-1", 3)}}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.EventsAfter(ctx, 0, "", 10)
	if len(got) != 1 || got[0].ID <= last {
		t.Fatalf("after pruning everything, the next ID is %+v, want > %d", got, last)
	}
	if n, _ := s.LastEventID(ctx); n != got[0].ID {
		t.Fatalf("LastEventID %d, want %d", n, got[0].ID)
	}
}

// TestEventIDMigration opens a database made before events had IDs.
func TestEventIDMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(filepath.Join("testdata", "prestaff-schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(old)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO terminals (id, name, cert_serial, cert_not_after, enrolled_at) VALUES ('t-1', 'pc', 's', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	for i, recv := range []int{30, 10, 20} {
		if _, err := db.Exec(`INSERT INTO events (terminal, epoch, seq, time, kind, severity, data, received_at) VALUES ('t-1', 0, ?, 0, 'k', 'info', '{}', ?)`, i+1, recv); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.EventsAfter(context.Background(), 0, "", 10)
	if err != nil || len(got) != 3 || got[0].Seq != 2 || got[1].Seq != 3 || got[2].Seq != 1 || got[2].ID != 3 {
		t.Fatalf("migrated events (numbered by arrival): %+v %v", got, err)
	}
	if n, _ := s.LastEventID(context.Background()); n != 3 {
		t.Fatalf("counter after migration: %d", n)
	}
}

func TestQuarantineEventsUseTheirIndex(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	addTerminal(t, s, "t-1", "pc-1")
	var evs []Event
	for i, k := range []protocol.EventKind{"download.blocked", "status.changed", "quarantine.released", "session.logon"} {
		evs = append(evs, Event{Terminal: "t-1", Seq: uint64(i + 1), Time: time.Now(), Kind: k, Severity: "info"})
	}
	if _, err := s.Commit(ctx, &Batch{Events: evs}); err != nil {
		t.Fatal(err)
	}
	got, err := s.QuarantineEvents(ctx)
	if err != nil || len(got) != 2 || got[0].Kind != "download.blocked" || got[1].Kind != "quarantine.released" {
		t.Fatalf("QuarantineEvents: %+v %v", got, err)
	}
	var plan string
	rows, err := s.r.Query(`EXPLAIN QUERY PLAN SELECT id FROM events WHERE ` + quarantineKinds + ` ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, parent, unused int
		var detail string
		rows.Scan(&id, &parent, &unused, &detail)
		plan += detail + "\n"
	}
	if !strings.Contains(plan, "events_quarantine") {
		t.Fatalf("quarantine query does not use its partial index:\n%s", plan)
	}
}
