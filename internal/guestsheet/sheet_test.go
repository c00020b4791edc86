package guestsheet_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/guestsheet"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func TestGuestSheetPDF(t *testing.T) {
	p := protocol.GuestPassesView{Batch: "b-1", Minutes: 60, Expires: time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)}
	for range 12 {
		p.Codes = append(p.Codes, "ACDE-FGHJ-KMNPQ")
	}
	var b bytes.Buffer
	if err := guestsheet.Write(&b, p, "Main Library", time.UTC); err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	if !bytes.HasPrefix(out, []byte("%PDF-")) || !bytes.Contains(out, []byte("%%EOF")) {
		t.Fatalf("not a PDF: %.40q", out)
	}
	// 12 passes at 10 a page: two pages.
	if n := bytes.Count(out, []byte("/Type /Page\n")) + bytes.Count(out, []byte("/Type /Page ")); n != 2 {
		t.Errorf("%d pages", n)
	}
}
