package auditwatch_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/console/hubclient"
	"github.com/carrel-kiosk/carrel/internal/auditwatch"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/testrig/hubrig"
)

// Against the real hub (hubrig: real TLS, real SQLite, real CA): the head in
// hub.info is signed by the CA the console pinned, is kept in the file, and
// moves on as the hub audits more.
func TestRealHubHeadIsKept(t *testing.T) {
	r := hubrig.Start(t, hubrig.Options{})
	c := hubclient.New(slog.New(slog.DiscardHandler), hubclient.Options{})
	t.Cleanup(func() { c.Close() })
	if err := c.SetHub(r.URL(), r.Fingerprint()); err != nil {
		t.Fatal(err)
	}
	if c.CA() != nil {
		t.Fatal("a CA before any handshake")
	}
	r.Setup(t, c, "root", "correct horse battery").Login(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := c.HubInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ca := c.CA()
	if ca == nil || pki.Fingerprint(ca) != r.Fingerprint() {
		t.Fatalf("client CA %v, want the pinned one %s", ca, r.Fingerprint())
	}
	if info.AuditHead == "" {
		t.Fatal("hub.info carries no audit head")
	}
	k, err := auditwatch.Open(filepath.Join(t.TempDir(), "console", auditwatch.FileName))
	if err != nil {
		t.Fatal(err)
	}
	first, err := k.Observe(ca, info.AuditHead)
	if err != nil || first.Verdict != auditwatch.First {
		t.Fatalf("first head: %+v, %v", first, err)
	}
	// The setup and login were audited: the head names a row.
	if first.Got.Seq < 1 {
		t.Fatalf("head at row %d after setup and login", first.Got.Seq)
	}

	// More audited work (an enrollment token), then the head again.
	r.Token(t, 1)
	info, err = c.HubInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next, err := k.Observe(ca, info.AuditHead)
	if err != nil || next.Verdict != auditwatch.Advanced || next.Got.Seq <= first.Got.Seq {
		t.Fatalf("head after more audit rows: %+v, %v (first at %d)", next, err, first.Got.Seq)
	}
	k2, err := auditwatch.Open(k.Path())
	if err != nil {
		t.Fatal(err)
	}
	if kept, ok := k2.Kept(r.Fingerprint()); !ok || kept.Seq != next.Got.Seq {
		t.Fatalf("the file keeps %+v (%v), want row %d", kept, ok, next.Got.Seq)
	}
	// The first head again is now a rewind.
	if c, _ := k2.Observe(ca, first.Got.String()); c.Verdict != auditwatch.Backwards {
		t.Fatalf("the older head read back: %v, want backwards", c.Verdict)
	}
}
