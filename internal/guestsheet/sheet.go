// Package guestsheet prints a batch of guest passes as a PDF sheet to cut
// out (codeberg.org/go-pdf/fpdf): for carrel-hub guest create --pdf and the
// console's guest pass dialog. It holds no state and names nobody.
package guestsheet

import (
	"fmt"
	"io"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Write writes a batch as a printable A4 PDF: one cut-out card per pass
// with its code in large type, what it is good for and until when, and the
// library's name. Nothing else: a pass names nobody.
func Write(w io.Writer, p protocol.GuestPassesView, library string, loc *time.Location) error {
	if loc == nil {
		loc = time.Local
	}
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetTitle("Guest passes "+p.Batch, false)
	pdf.SetCreator("carrel-hub", false)
	pdf.SetAutoPageBreak(false, 0)
	const (
		cols, rows   = 2, 5
		cardW, cardH = 90.0, 52.0
		left, top    = 12.0, 12.0
		gap          = 6.0
	)
	good := fmt.Sprintf("Good for %d minutes at a library computer", p.Minutes)
	if p.Minutes == 0 {
		good = "Good for one session until closing time"
	}
	until := "Use by " + p.Expires.In(loc).Add(-time.Minute).Format("Monday 2 January 2006")
	if library == "" {
		library = "Library computers"
	}
	tr := pdf.UnicodeTranslatorFromDescriptor("") // Latin-1 for the core fonts
	for i, code := range p.Codes {
		if i%(cols*rows) == 0 {
			pdf.AddPage()
			pdf.SetDashPattern([]float64{2, 2}, 0)
			pdf.SetDrawColor(150, 150, 150)
		}
		n := i % (cols * rows)
		x := left + float64(n%cols)*(cardW+gap)
		y := top + float64(n/cols)*(cardH+gap)
		pdf.Rect(x, y, cardW, cardH, "D")
		pdf.SetXY(x+5, y+5)
		pdf.SetFont("Helvetica", "B", 11)
		pdf.CellFormat(cardW-10, 6, tr(library+": guest pass"), "", 0, "L", false, 0, "")
		pdf.SetXY(x+5, y+16)
		pdf.SetFont("Courier", "B", 20)
		pdf.CellFormat(cardW-10, 12, code, "", 0, "C", false, 0, "")
		pdf.SetFont("Helvetica", "", 9)
		pdf.SetXY(x+5, y+32)
		pdf.CellFormat(cardW-10, 5, tr(good), "", 0, "L", false, 0, "")
		pdf.SetXY(x+5, y+37)
		pdf.CellFormat(cardW-10, 5, tr(until+". One use."), "", 0, "L", false, 0, "")
		pdf.SetXY(x+5, y+43)
		pdf.CellFormat(cardW-10, 5, tr("Type the code on the sign-in screen, in the guest pass box."), "", 0, "L", false, 0, "")
	}
	return pdf.Output(w)
}
