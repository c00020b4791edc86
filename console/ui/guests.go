package ui

import (
	"bytes"
	"context"
	"fmt"
	"image/color"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/guestsheet"
	"github.com/carrel-kiosk/carrel/internal/patron"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// patronsView is the "Patrons" tab: the ILS link (green when card sign-in
// works), guest passes (desk), and for admins the branch rules and hours
// (rules.go).
type patronsView struct {
	u       *UI
	ils     *canvas.Rectangle
	ilsText *widget.Label
	guests  *guestsView
	rules   *rulesView // nil for desk staff
	content fyne.CanvasObject
}

var (
	ilsGreen = color.NRGBA{0x2E, 0x7D, 0x32, 0xFF}
	ilsRed   = color.NRGBA{0xC6, 0x28, 0x28, 0xFF}
	ilsGrey  = color.NRGBA{0x78, 0x90, 0x9C, 0xFF}
)

func newPatronsView(u *UI) *patronsView {
	v := &patronsView{u: u, ils: canvas.NewRectangle(ilsGrey), ilsText: plain("ILS link: not asked yet")}
	v.ils.SetMinSize(fyne.NewSize(18, 18))
	v.ils.CornerRadius = 9
	check := widget.NewButton("Check", v.pollILS)
	v.guests = newGuestsView(u)
	parts := []fyne.CanvasObject{
		container.NewBorder(nil, nil, container.NewCenter(v.ils), check, v.ilsText),
		widget.NewSeparator(),
		v.guests.content,
	}
	if u.login.Role == protocol.RoleAdmin {
		v.rules = newRulesView(u)
		parts = append(parts, widget.NewSeparator(), v.rules.content)
	}
	v.content = container.NewVScroll(container.NewVBox(parts...))
	v.pollILS()
	return v
}

// ilsColour is the light of an ILS state: green up, red down, grey otherwise.
func ilsColour(s protocol.ILSState) color.NRGBA {
	switch s {
	case protocol.ILSUp:
		return ilsGreen
	case protocol.ILSDown:
		return ilsRed
	}
	return ilsGrey
}

// ilsText says an ILS link's state in words.
func ilsText(l protocol.ILSLink, now time.Time) string {
	var s string
	switch l.State {
	case protocol.ILSUp:
		s = "ILS link up: card sign-in works"
	case protocol.ILSDown:
		s = "ILS link DOWN: card sign-in is refused, guest passes still work"
	case protocol.ILSNotConfigured:
		s = "No ILS configured: guest passes only"
	default:
		s = "ILS link not checked yet"
	}
	if l.Addr != "" {
		s += " (" + shown(l.Addr)
		if l.Profile != "" {
			s += ", " + shown(l.Profile)
		}
		s += ")"
	}
	if !l.Since.IsZero() {
		s += ", since " + timeText(l.Since, now)
	}
	if l.State == protocol.ILSDown && l.LastError != "" {
		s += ". Last error: " + shown(l.LastError)
	}
	return s
}

// pollILS asks the hub for the ILS link's state.
func (v *patronsView) pollILS() {
	hub := v.u.patronHub()
	if hub == nil {
		return
	}
	v.u.async(func(ctx context.Context) func() {
		l, err := hub.ILSLink(ctx)
		return func() {
			if err != nil {
				v.ils.FillColor = ilsGrey
				v.ilsText.SetText("ILS link: " + errText(err))
			} else {
				v.ils.FillColor = ilsColour(l.State)
				v.ilsText.SetText(ilsText(l, v.u.opts.Now()))
			}
			v.ils.Refresh()
		}
	})
}

// ILSState is the ILS light's colour and text as shown (tests).
func (u *UI) ILSState() (color.NRGBA, string) {
	if u.patrons == nil {
		return color.NRGBA{}, ""
	}
	c, _ := u.patrons.ils.FillColor.(color.NRGBA)
	return c, u.patrons.ilsText.Text
}

// guestsView makes a batch of guest passes: shows the codes once and saves
// the printable sheet (internal/guestsheet) where staff choose.
type guestsView struct {
	u       *UI
	count   *widget.Entry
	kind    *widget.RadioGroup
	minutes *widget.Entry
	make    *widget.Button
	result  *widget.Label
	codes   *widget.Label
	save    *widget.Button
	batch   protocol.GuestPassesView // the last batch, for its sheet
	// saveTo, if set, replaces the file-save dialog (tests): it gets the PDF.
	saveTo  func(pdf []byte) error
	content *fyne.Container
}

const (
	guestDay     = "Valid for today"
	guestMinutes = "Valid for minutes"
)

func newGuestsView(u *UI) *guestsView {
	g := &guestsView{u: u, count: widget.NewEntry(), minutes: widget.NewEntry(), result: plain(""), codes: selectable("")}
	g.count.SetText("10")
	g.minutes.SetText("60")
	g.kind = widget.NewRadioGroup([]string{guestDay, guestMinutes}, func(s string) {
		if s == guestMinutes {
			g.minutes.Enable()
		} else {
			g.minutes.Disable()
		}
	})
	g.kind.Horizontal = true
	g.kind.SetSelected(guestDay)
	g.make = widget.NewButton("Make guest passes", g.create)
	g.make.Importance = widget.HighImportance
	g.save = widget.NewButton("Save printable sheet (PDF)…", g.saveSheet)
	g.save.Disable()
	form := widget.NewForm(widget.NewFormItem("How many", g.count), widget.NewFormItem("", g.kind),
		widget.NewFormItem("Minutes", g.minutes))
	g.codes.TextStyle = fyne.TextStyle{Monospace: true}
	g.content = container.NewVBox(
		widget.NewLabelWithStyle("Guest passes", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		plain("A pass names nobody. The codes are shown once, here: save or print the sheet before leaving this screen."),
		form, g.make, g.result, g.codes, g.save)
	return g
}

// maxGuestBatch is the most passes the hub makes at once (internal/patron).
const maxGuestBatch = patron.MaxGuestBatch

// parseGuestArgs checks what staff typed for a batch.
func parseGuestArgs(count, kind, minutes string) (protocol.GuestCreateArgs, error) {
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil {
		return protocol.GuestCreateArgs{}, fmt.Errorf("how many: type a whole number, e.g. 10")
	}
	if n < 1 || n > maxGuestBatch {
		return protocol.GuestCreateArgs{}, fmt.Errorf("how many: %d is out of range (1 to %d)", n, maxGuestBatch)
	}
	if kind != guestMinutes {
		return protocol.GuestCreateArgs{Count: n, Day: true}, nil
	}
	m, err := parseMinutes(minutes)
	if err != nil {
		return protocol.GuestCreateArgs{}, err
	}
	return protocol.GuestCreateArgs{Count: n, Minutes: m}, nil
}

func (g *guestsView) create() {
	args, err := parseGuestArgs(g.count.Text, g.kind.Selected, g.minutes.Text)
	if err != nil {
		g.result.SetText(err.Error())
		return
	}
	hub := g.u.patronHub()
	g.make.Disable()
	g.result.SetText("Making passes…")
	g.u.async(func(ctx context.Context) func() {
		b, err := hub.GuestCreate(ctx, args)
		return func() {
			g.make.Enable()
			if err != nil {
				g.result.SetText("Guest passes failed: " + errText(err))
				return
			}
			g.batch = b
			what := "for today"
			if b.Minutes > 0 {
				what = fmt.Sprintf("of %d minutes", b.Minutes)
			}
			g.result.SetText(fmt.Sprintf("%d passes %s, valid until %s. These codes are not shown again:",
				len(b.Codes), what, b.Expires.In(time.Local).Format("Mon 2 Jan 15:04")))
			lines := make([]string, len(b.Codes))
			for i, c := range b.Codes {
				lines[i] = shown(c)
			}
			g.codes.SetText(strings.Join(lines, "\n"))
			g.save.Enable()
			g.u.state(fmt.Sprintf("guests:%d", len(b.Codes)))
		}
	})
}

// sheet is the last batch's printable PDF.
func (g *guestsView) sheet() ([]byte, error) {
	var buf bytes.Buffer
	if err := guestsheet.Write(&buf, g.batch, "", time.Local); err != nil {
		return nil, fmt.Errorf("guest sheet: %w", err)
	}
	return buf.Bytes(), nil
}

func (g *guestsView) saveSheet() {
	pdf, err := g.sheet()
	if err != nil {
		g.result.SetText(errText(err))
		return
	}
	if g.saveTo != nil {
		g.saved(g.saveTo(pdf), "")
		return
	}
	d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
		if err != nil || w == nil {
			if err != nil {
				g.result.SetText("Saving the sheet failed: " + errText(err))
			}
			return
		}
		_, werr := w.Write(pdf)
		if cerr := w.Close(); werr == nil {
			werr = cerr
		}
		g.saved(werr, w.URI().Path())
	}, g.u.win)
	d.SetFileName("guest-passes-" + g.batch.Batch + ".pdf")
	d.Show()
	g.u.state("guests:save")
}

func (g *guestsView) saved(err error, path string) {
	if err != nil {
		g.result.SetText("Saving the sheet failed: " + errText(err))
		return
	}
	g.result.SetText("Sheet saved " + quoted(path) + ". Print it and cut out the passes.")
	g.u.state("guests:saved")
}
