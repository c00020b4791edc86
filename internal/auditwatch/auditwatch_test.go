package auditwatch

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func testCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, err := pki.LoadOrCreate(filepath.Join(t.TempDir(), "ca"))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// head is a head of ca for row seq with a hash made of b.
func head(t *testing.T, ca *pki.CA, seq int64, b byte) string {
	t.Helper()
	h, err := ca.SignAuditHead(seq, bytes.Repeat([]byte{b}, 32), time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(seq)*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func TestObserve(t *testing.T) {
	ca, other := testCA(t), testCA(t)
	path := filepath.Join(t.TempDir(), "console", FileName)
	k, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := protocol.ParseAuditHead(head(t, ca, 9, 0xaa))
	forged.Seq = 90 // the signature no longer covers it
	steps := []struct {
		name string
		ca   *pki.CA
		head string
		want Verdict
		kept int64 // the row kept afterwards
	}{
		{"no head", ca, "", Missing, -1},
		{"first", ca, head(t, ca, 5, 0xaa), First, 5},
		{"advanced", ca, head(t, ca, 9, 0xbb), Advanced, 9},
		{"same", ca, head(t, ca, 9, 0xbb), Same, 9},
		{"rewound", ca, head(t, ca, 7, 0xcc), Backwards, 9},
		{"rewritten", ca, head(t, ca, 9, 0xdd), Forked, 9},
		{"another CA's head", ca, head(t, other, 50, 0xee), BadSignature, 9},
		{"altered head", ca, forged.String(), BadSignature, 9},
		{"not a head", ca, "ah1.x.y", Malformed, 9},
		{"still ahead after the alarms", ca, head(t, ca, 12, 0x11), Advanced, 12},
	}
	for _, s := range steps {
		c, err := k.Observe(s.ca.Cert(), s.head)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if c.Verdict != s.want {
			t.Errorf("%s: verdict %v, want %v (%+v)", s.name, c.Verdict, s.want, c)
		}
		if c.Verdict.Alarm() != (s.want >= Backwards) || (c.Verdict.Alarm() && c.Text() == "") {
			t.Errorf("%s: alarm %v with text %q", s.name, c.Verdict.Alarm(), c.Text())
		}
		kept, ok := k.Kept(pki.Fingerprint(ca.Cert()))
		if s.kept < 0 && ok || s.kept >= 0 && (!ok || kept.Seq != s.kept) {
			t.Errorf("%s: kept %+v (%v), want row %d", s.name, kept, ok, s.kept)
		}
	}
	if c, _ := k.Observe(ca.Cert(), head(t, ca, 3, 0xaa)); c.Verdict != Backwards || c.Kept.Seq != 12 || c.Got.Seq != 3 ||
		!strings.Contains(c.Text(), "went backwards") || !strings.Contains(c.Text(), "entry 3") {
		t.Errorf("rewind check %+v: %q", c, c.Text())
	}

	// Another hub is kept apart.
	if c, _ := k.Observe(other.Cert(), head(t, other, 2, 0x01)); c.Verdict != First {
		t.Errorf("other hub: %v, want first", c.Verdict)
	}

	// The file is private and a console that restarts remembers both.
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("heads file mode %v, want 0600", fi.Mode().Perm())
		}
	}
	k2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := k2.Observe(ca.Cert(), head(t, ca, 11, 0x22)); c.Verdict != Backwards || c.Kept.Seq != 12 {
		t.Errorf("after a restart: %+v, want backwards from 12", c)
	}
	if h, ok := k2.Kept(pki.Fingerprint(other.Cert())); !ok || h.Seq != 2 {
		t.Errorf("other hub after a restart: %+v %v", h, ok)
	}
}

func TestOpenRefusesAStrangeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil {
		t.Fatal("Open of a garbled file: no error")
	}
}
