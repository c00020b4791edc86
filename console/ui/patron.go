package ui

import (
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

// The patron session in the console: a tile says how much time a signed-in
// patron has left and whether they came with a card or a guest pass; a PC's
// detail shows its session and rules and lets desk staff add or remove time;
// the top bar has the ILS link (red when card sign-in is down) and the guest
// pass dialog; admins get a Rules tab for each branch's time rules and hours.

// patronTileText is a tile's second text for a PC with a patron signed in
// ("card 12m left"); ok false without one.
func patronTileText(v protocol.TerminalView, now time.Time) (string, bool) {
	if v.Status == nil || v.Status.Patron == nil {
		return "", false
	}
	p := v.Status.Patron
	left := p.Ends.Sub(now)
	if left <= 0 {
		return string(p.Kind) + " time up", true
	}
	return string(p.Kind) + " " + shortDuration(left) + " left", true
}

// patronSection is the detail's patron session: who (card pseudonym or
// guest), until when, the branch's rules, and Add time.
type patronSection struct {
	u        *UI
	terminal string
	grant    string // the grant whose rules are shown
	summary  *widget.Label
	rules    *widget.Label
	minutes  *widget.Entry
	add      *widget.Button
	result   *widget.Label
	controls *fyne.Container
	content  *fyne.Container
}

func newPatronSection(u *UI) *patronSection {
	p := &patronSection{u: u, summary: plain(""), rules: plain(""), minutes: widget.NewEntry(), result: plain("")}
	p.rules.Importance = widget.LowImportance
	p.rules.Wrapping = fyne.TextWrapWord
	p.minutes.SetText("10")
	p.add = widget.NewButton("Add time", p.addTime)
	p.controls = container.NewBorder(nil, nil, widget.NewLabel("Minutes (negative removes)"), p.add, p.minutes)
	p.content = container.NewVBox(widget.NewLabelWithStyle("Patron session", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		p.summary, p.rules, p.controls, p.result)
	return p
}

// show fills the section for terminal t; the rules are fetched when the
// session (or the PC) changes.
func (p *patronSection) show(t protocol.TerminalView, now time.Time) {
	if p.terminal != t.ID {
		p.terminal, p.grant = t.ID, ""
		p.result.SetText("")
	}
	var pv *protocol.PatronView
	if t.Status != nil {
		pv = t.Status.Patron
	}
	if pv == nil {
		p.summary.SetText("No patron signed in.")
		p.controls.Hide()
	} else {
		who := "Card " + shown(pv.Patron)
		if pv.Kind == protocol.PatronGuest {
			who = "Guest pass"
		}
		left := pv.Ends.Sub(now)
		p.summary.SetText(fmt.Sprintf("%s, until %s (%s left)", who, pv.Ends.In(now.Location()).Format("15:04"), shortDuration(max(left, 0))))
		p.controls.Show()
	}
	grant := ""
	if pv != nil {
		grant = pv.Grant
	}
	if grant == p.grant && p.rules.Text != "" {
		return
	}
	p.grant = grant
	id := t.ID
	p.u.async(func(ctx context.Context) func() {
		v, err := p.u.client.SessionGet(ctx, id)
		return func() {
			if p.terminal != id {
				return
			}
			if err != nil {
				p.rules.SetText("Rules: " + errText(err))
				return
			}
			text := "Rules"
			if v.Branch != "" {
				text += " of " + shown(v.Branch)
			}
			text += ": " + rulesSummary(v.Rules, now)
			if v.Grant != nil {
				text += fmt.Sprintf(". This session ends by %s.", shown(v.Grant.EndsBy))
			}
			p.rules.SetText(text)
			p.u.state("session:" + id)
		}
	})
}

func (p *patronSection) addTime() {
	n, err := strconv.Atoi(strings.TrimSpace(p.minutes.Text))
	if err != nil || n == 0 || n < -24*60 || n > 24*60 {
		p.result.SetText("Give the minutes to add as a whole number (negative removes time).")
		return
	}
	id := p.terminal
	p.add.Disable()
	p.result.SetText("Sending…")
	p.u.async(func(ctx context.Context) func() {
		g, err := p.u.client.SessionTime(ctx, id, n)
		return func() {
			p.add.Enable()
			if err != nil {
				p.result.SetText("Not changed: " + errText(err))
				return
			}
			verb := "Added"
			if n < 0 {
				verb, n = "Removed", -n
			}
			p.result.SetText(fmt.Sprintf("%s %d minutes: the session now ends at %s (%s).", verb, n,
				g.Ends.In(p.u.opts.Now().Location()).Format("15:04"), shown(g.EndsBy)))
			p.u.state("time-added:" + id)
		}
	})
}

// rulesSummary is a branch's rules in one line.
func rulesSummary(r protocol.Rules, now time.Time) string {
	mins := func(n int, none string) string {
		if n == 0 {
			return none
		}
		return fmt.Sprintf("%d min", n)
	}
	ws := []string{}
	for _, w := range r.WarningsOrDefault() {
		ws = append(ws, strconv.Itoa(w))
	}
	parts := []string{
		"sessions " + mins(r.SessionMinutes, "without a limit"),
		daily(r.DailyMinutes),
		"warnings at " + strings.Join(ws, ", ") + " min",
	}
	if r.IdleMinutes > 0 {
		parts = append(parts, fmt.Sprintf("idle end after %d min", r.IdleMinutes))
	}
	if r.CutoffMinutes > 0 {
		parts = append(parts, fmt.Sprintf("no sign-in in the last %d min", r.CutoffMinutes))
	}
	parts = append(parts, "today: "+todayHours(r, now))
	return strings.Join(parts, ", ")
}

func daily(n int) string {
	if n == 0 {
		return "no daily limit"
	}
	return fmt.Sprintf("%d min a day", n)
}

func todayHours(r protocol.Rules, now time.Time) string {
	date := now.Format(time.DateOnly)
	for _, e := range r.Exceptions {
		if e.Date == date {
			return dayText(e.DayHours)
		}
	}
	if len(r.Hours) == 7 {
		return dayText(r.Hours[now.Weekday()])
	}
	return "open, no closing time"
}

func dayText(h protocol.DayHours) string {
	if h.Closed {
		return "closed"
	}
	return h.Open + "–" + h.Close
}

// ilsLight is the top bar's ILS link: green up, red down (with the error),
// grey when there is no ILS.
type ilsLight struct {
	u       *UI
	dot     *canvas.Circle
	label   *widget.Label
	content fyne.CanvasObject
	last    protocol.ILSLink
}

var (
	ilsGreen = color.NRGBA{0x2E, 0x7D, 0x32, 0xFF}
	ilsRed   = color.NRGBA{0xC6, 0x28, 0x28, 0xFF}
	ilsGrey  = color.NRGBA{0x9E, 0x9E, 0x9E, 0xFF}
)

func newILSLight(u *UI) *ilsLight {
	l := &ilsLight{u: u, dot: canvas.NewCircle(ilsGrey), label: widget.NewLabel("ILS: …")}
	l.content = container.NewHBox(container.NewGridWrap(fyne.NewSize(12, 12), l.dot), l.label)
	return l
}

// poll asks the hub for the link state.
func (l *ilsLight) poll() {
	l.u.async(func(ctx context.Context) func() {
		v, err := l.u.client.ILSLink(ctx)
		return func() {
			if err == nil {
				l.set(v)
			}
		}
	})
}

func (l *ilsLight) set(v protocol.ILSLink) {
	l.last = v
	switch v.State {
	case protocol.ILSUp:
		l.dot.FillColor = ilsGreen
		l.label.SetText("Card sign-in: ILS up")
		l.label.Importance = widget.MediumImportance
	case protocol.ILSDown:
		l.dot.FillColor = ilsRed
		l.label.SetText("Card sign-in down: " + shown(protocol.Clip(v.LastError, 120)))
		l.label.Importance = widget.DangerImportance
	case protocol.ILSNotConfigured:
		l.dot.FillColor = ilsGrey
		l.label.SetText("No ILS: guest passes only")
		l.label.Importance = widget.LowImportance
	default:
		l.dot.FillColor = ilsGrey
		l.label.SetText("Card sign-in: ILS not asked yet")
		l.label.Importance = widget.LowImportance
	}
	l.dot.Refresh()
	l.label.Refresh()
	l.u.state("ils:" + string(v.State))
}

// showGuestDialog asks for a batch of guest passes, makes it, and shows the
// codes once, with a printable sheet to save.
func (u *UI) showGuestDialog() {
	count := widget.NewEntry()
	count.SetText("10")
	minutes := widget.NewEntry()
	minutes.SetText("60")
	day := widget.NewCheck("For the day (one session until closing)", func(on bool) {
		if on {
			minutes.Disable()
		} else {
			minutes.Enable()
		}
	})
	branch := widget.NewEntry()
	branch.SetPlaceHolder("optional")
	items := []*widget.FormItem{widget.NewFormItem("Passes", count), widget.NewFormItem("Minutes each", minutes),
		widget.NewFormItem("", day), widget.NewFormItem("Branch", branch)}
	dialog.ShowForm("Make guest passes", "Make", "Cancel", items, func(ok bool) {
		if !ok {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(count.Text))
		if err != nil || n < 1 || n > patron.MaxGuestBatch {
			dialog.ShowInformation("Guest passes", fmt.Sprintf("Give a number of passes from 1 to %d.", patron.MaxGuestBatch), u.win)
			return
		}
		args := protocol.GuestCreateArgs{Count: n, Day: day.Checked, Branch: strings.TrimSpace(branch.Text)}
		if !day.Checked {
			m, err := strconv.Atoi(strings.TrimSpace(minutes.Text))
			if err != nil || m < 1 || m > 24*60 {
				dialog.ShowInformation("Guest passes", "Give the minutes of each pass (1 to 1440), or tick For the day.", u.win)
				return
			}
			args.Minutes = m
		}
		u.makeGuests(args)
	}, u.win)
	u.state("guest-dialog")
}

// makeGuests asks the hub for a batch and shows its codes.
func (u *UI) makeGuests(args protocol.GuestCreateArgs) {
	u.async(func(ctx context.Context) func() {
		v, err := u.client.GuestCreate(ctx, args)
		return func() {
			if err != nil {
				dialog.ShowInformation("Guest passes", "Not made: "+errText(err), u.win)
				return
			}
			u.showGuestCodes(v, args.Branch)
		}
	})
}

// guestCodesText is a batch as shown once to staff.
func guestCodesText(v protocol.GuestPassesView, now time.Time) string {
	what := fmt.Sprintf("%d minutes", v.Minutes)
	if v.Minutes == 0 {
		what = "one session until closing"
	}
	head := fmt.Sprintf("%d passes, each for %s, to be used by %s. They are not shown again: save or print them now.\n\n",
		len(v.Codes), what, v.Expires.In(now.Location()).Add(-time.Minute).Format("Mon 2 Jan 15:04"))
	return head + strings.Join(v.Codes, "\n")
}

func (u *UI) showGuestCodes(v protocol.GuestPassesView, branch string) {
	text := guestCodesText(v, u.opts.Now())
	codes := widget.NewLabelWithStyle(text, fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	save := widget.NewButton("Save printable sheet (PDF)…", func() {
		dialog.ShowFileSave(func(w fyne.URIWriteCloser, err error) {
			if err != nil || w == nil {
				return
			}
			defer w.Close()
			if err := guestsheet.Write(w, v, branch, time.Local); err != nil {
				dialog.ShowInformation("Guest passes", "Sheet not written: "+errText(err), u.win)
			}
		}, u.win)
	})
	copyAll := widget.NewButton("Copy codes", func() { u.app.Clipboard().SetContent(strings.Join(v.Codes, "\n")) })
	body := container.NewBorder(nil, container.NewHBox(save, copyAll), nil, nil, container.NewVScroll(codes))
	d := dialog.NewCustom("Guest passes "+shown(v.Batch), "Done", body, u.win)
	d.Resize(fyne.NewSize(520, 480))
	d.Show()
	u.lastGuestCodes = text
	u.state("guest-codes:" + strconv.Itoa(len(v.Codes)))
}

// rulesView is the admin's editor of a branch's time rules and hours.
type rulesView struct {
	u                                      *UI
	branch                                 *widget.Entry
	session, daily, warnings, idle, cutoff *widget.Entry
	week, exceptions                       *widget.Entry
	own                                    *widget.Label
	status                                 *widget.Label
	load, save, reset                      *widget.Button
	content                                fyne.CanvasObject
}

func newRulesView(u *UI) *rulesView {
	v := &rulesView{u: u, branch: widget.NewEntry(), session: widget.NewEntry(), daily: widget.NewEntry(),
		warnings: widget.NewEntry(), idle: widget.NewEntry(), cutoff: widget.NewEntry(),
		week: widget.NewMultiLineEntry(), exceptions: widget.NewMultiLineEntry(), own: plain(""), status: plain("")}
	v.branch.SetPlaceHolder("empty: the default rules")
	v.week.SetPlaceHolder("mon-fri 09:00-20:00; sat 10:00-16:00   (days left out are closed; always: no hours)")
	v.week.SetMinRowsVisible(7)
	v.exceptions.SetPlaceHolder("2026-12-25 closed\n2026-12-24 09:00-13:00")
	v.exceptions.SetMinRowsVisible(3)
	v.load = widget.NewButton("Load", v.fetch)
	v.save = widget.NewButton("Save rules", v.store)
	v.save.Importance = widget.HighImportance
	v.reset = widget.NewButton("Follow the defaults", v.follow)
	form := widget.NewForm(
		widget.NewFormItem("Branch", container.NewBorder(nil, nil, nil, v.load, v.branch)),
		widget.NewFormItem("", v.own),
		widget.NewFormItem("Session length (min, 0: none)", v.session),
		widget.NewFormItem("Daily allowance (min, 0: none)", v.daily),
		widget.NewFormItem("Warnings (min before the end)", v.warnings),
		widget.NewFormItem("Idle end (min, 0: never)", v.idle),
		widget.NewFormItem("Last sign-in (min before closing)", v.cutoff),
		widget.NewFormItem("Opening hours", v.week),
		widget.NewFormItem("Closed dates and special hours", v.exceptions),
	)
	v.content = container.NewVScroll(container.NewVBox(form, container.NewHBox(v.save, v.reset), v.status))
	return v
}

func (v *rulesView) fetch() {
	b := strings.TrimSpace(v.branch.Text)
	v.u.async(func(ctx context.Context) func() {
		br, err := v.u.client.RulesGet(ctx, b)
		return func() {
			if err != nil {
				v.status.SetText("Not loaded: " + errText(err))
				return
			}
			v.fill(br)
			v.status.SetText("")
			v.u.state("rules:" + b)
		}
	})
}

func (v *rulesView) fill(br protocol.BranchRules) {
	r := br.Rules
	switch {
	case br.Branch == "":
		v.own.SetText("The default rules: every branch without its own follows them.")
	case br.Own:
		v.own.SetText("This branch's own rules.")
	default:
		v.own.SetText("This branch has no rules of its own: these are the defaults. Saving gives it its own.")
	}
	v.session.SetText(strconv.Itoa(r.SessionMinutes))
	v.daily.SetText(strconv.Itoa(r.DailyMinutes))
	ws := []string{}
	for _, w := range r.WarningsOrDefault() {
		ws = append(ws, strconv.Itoa(w))
	}
	v.warnings.SetText(strings.Join(ws, ", "))
	v.idle.SetText(strconv.Itoa(r.IdleMinutes))
	v.cutoff.SetText(strconv.Itoa(r.CutoffMinutes))
	if len(r.Hours) == 7 {
		v.week.SetText(strings.TrimSpace(patron.FormatWeek(r.Hours)))
	} else {
		v.week.SetText("always")
	}
	var ex []string
	for _, e := range r.Exceptions {
		ex = append(ex, e.Date+" "+patronDay(e.DayHours))
	}
	v.exceptions.SetText(strings.Join(ex, "\n"))
}

func patronDay(h protocol.DayHours) string {
	if h.Closed {
		return "closed"
	}
	return h.Open + "-" + h.Close
}

// parse reads the form into rules.
func (v *rulesView) parse() (protocol.Rules, error) {
	var r protocol.Rules
	num := func(what, s string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return 0, fmt.Errorf("%s: give a whole number", what)
		}
		return n, nil
	}
	var err error
	if r.SessionMinutes, err = num("Session length", v.session.Text); err != nil {
		return r, err
	}
	if r.DailyMinutes, err = num("Daily allowance", v.daily.Text); err != nil {
		return r, err
	}
	if r.IdleMinutes, err = num("Idle end", v.idle.Text); err != nil {
		return r, err
	}
	if r.CutoffMinutes, err = num("Last sign-in", v.cutoff.Text); err != nil {
		return r, err
	}
	r.Warnings = []int{}
	for _, w := range strings.FieldsFunc(v.warnings.Text, func(c rune) bool { return c == ',' || c == ' ' }) {
		n, err := num("Warnings", w)
		if err != nil {
			return r, err
		}
		r.Warnings = append(r.Warnings, n)
	}
	week := strings.Join(strings.Split(strings.TrimSpace(v.week.Text), "\n"), ";")
	if week != "" {
		if r.Hours, err = patron.ParseWeek(week); err != nil {
			return r, err
		}
	}
	for _, line := range strings.Split(v.exceptions.Text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return r, fmt.Errorf("closed dates: %q: want DATE closed or DATE HH:MM-HH:MM", strings.TrimSpace(line))
		}
		h, err := patron.ParseDayHours(f[1])
		if err != nil {
			return r, err
		}
		r.Exceptions = append(r.Exceptions, protocol.HoursException{Date: f[0], DayHours: h})
	}
	return r, r.Validate()
}

func (v *rulesView) store() {
	r, err := v.parse()
	if err != nil {
		v.status.SetText("Not saved: " + shown(err.Error()))
		return
	}
	v.send(strings.TrimSpace(v.branch.Text), &r)
}

func (v *rulesView) follow() {
	b := strings.TrimSpace(v.branch.Text)
	if b == "" {
		v.status.SetText("The default rules cannot be removed; edit them instead.")
		return
	}
	v.send(b, nil)
}

func (v *rulesView) send(branch string, r *protocol.Rules) {
	v.save.Disable()
	v.u.async(func(ctx context.Context) func() {
		err := v.u.client.RulesSet(ctx, branch, r)
		return func() {
			v.save.Enable()
			if err != nil {
				v.status.SetText("Not saved: " + errText(err))
				return
			}
			v.status.SetText("Saved. The rules hold from the next sign-in; running sessions keep their end.")
			v.u.state("rules-saved:" + branch)
			v.fetch()
		}
	})
}
