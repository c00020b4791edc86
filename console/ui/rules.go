package ui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// rulesView edits a branch's time rules and opening hours (admin only: the
// hub refuses rules.get and rules.set to desk staff, and the console does not
// show them this screen). Bad input is refused here with the field named,
// before anything is sent.
type rulesView struct {
	u                        *UI
	branch                   *widget.Entry
	session, daily, warnings *widget.Entry
	idle, cutoff             *widget.Entry
	open, close              [7]*widget.Entry
	closed                   [7]*widget.Check
	exceptions               *widget.Entry
	own                      *widget.Label
	result                   *widget.Label
	load, save, revert       *widget.Button
	content                  *fyne.Container
}

func newRulesView(u *UI) *rulesView {
	r := &rulesView{u: u, branch: widget.NewEntry(), session: widget.NewEntry(), daily: widget.NewEntry(),
		warnings: widget.NewEntry(), idle: widget.NewEntry(), cutoff: widget.NewEntry(),
		exceptions: widget.NewMultiLineEntry(), own: plain(""), result: plain("")}
	r.branch.SetPlaceHolder("Branch name (empty: the default rules)")
	r.warnings.SetPlaceHolder("10, 5, 1")
	r.exceptions.SetPlaceHolder("2026-12-24 09:00-13:00\n2026-12-25 closed")
	r.exceptions.SetMinRowsVisible(3)
	form := widget.NewForm(
		widget.NewFormItem("Session length (min, 0: none)", r.session),
		widget.NewFormItem("Daily allowance (min, 0: none)", r.daily),
		widget.NewFormItem("Warnings (min before end)", r.warnings),
		widget.NewFormItem("Idle end (min, 0: never)", r.idle),
		widget.NewFormItem("Last sign-in (min before closing)", r.cutoff))
	hours := container.NewGridWithColumns(4, widget.NewLabel("Day"), widget.NewLabel("Opens"), widget.NewLabel("Closes"), widget.NewLabel(""))
	for i := range 7 {
		r.open[i], r.close[i] = widget.NewEntry(), widget.NewEntry()
		r.open[i].SetPlaceHolder("09:00")
		r.close[i].SetPlaceHolder("20:00")
		r.closed[i] = widget.NewCheck("closed", nil)
		hours.Add(widget.NewLabel(time.Weekday(i).String()))
		hours.Add(r.open[i])
		hours.Add(r.close[i])
		hours.Add(r.closed[i])
	}
	r.load = widget.NewButton("Load", r.fetch)
	r.save = widget.NewButton("Save rules", r.store)
	r.save.Importance = widget.HighImportance
	r.revert = widget.NewButton("Follow the defaults", r.clear)
	r.content = container.NewVBox(
		widget.NewLabelWithStyle("Branch rules and opening hours", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		container.NewBorder(nil, nil, nil, r.load, r.branch), r.own, form,
		plain("Opening hours (leave every day empty for always open, no closing time):"), hours,
		plain("Exceptions, one a line: a date and hours, or closed:"), r.exceptions,
		container.NewHBox(r.save, r.revert), r.result)
	r.fetch()
	return r
}

// fill shows a branch's rules in the fields.
func (r *rulesView) fill(b protocol.BranchRules) {
	x := b.Rules
	r.session.SetText(strconv.Itoa(x.SessionMinutes))
	r.daily.SetText(strconv.Itoa(x.DailyMinutes))
	r.warnings.SetText(intsText(x.WarningsOrDefault()))
	r.idle.SetText(strconv.Itoa(x.IdleMinutes))
	r.cutoff.SetText(strconv.Itoa(x.CutoffMinutes))
	for i := range 7 {
		var d protocol.DayHours
		if len(x.Hours) == 7 {
			d = x.Hours[i]
		}
		r.open[i].SetText(d.Open)
		r.close[i].SetText(d.Close)
		r.closed[i].SetChecked(d.Closed)
	}
	lines := make([]string, 0, len(x.Exceptions))
	for _, e := range x.Exceptions {
		if e.Closed {
			lines = append(lines, e.Date+" closed")
		} else {
			lines = append(lines, e.Date+" "+e.Open+"-"+e.Close)
		}
	}
	r.exceptions.SetText(strings.Join(lines, "\n"))
	switch {
	case b.Branch == "":
		r.own.SetText("The default rules: every branch without rules of its own follows them.")
	case b.Own:
		r.own.SetText("Branch " + shown(b.Branch) + " has rules of its own.")
	default:
		r.own.SetText("Branch " + shown(b.Branch) + " follows the default rules (shown); saving gives it its own.")
	}
}

func (r *rulesView) fetch() {
	branch := strings.TrimSpace(r.branch.Text)
	hub := r.u.patronHub()
	if hub == nil {
		return
	}
	r.u.async(func(ctx context.Context) func() {
		b, err := hub.RulesGet(ctx, branch)
		return func() {
			if err != nil {
				r.result.SetText("Loading the rules failed: " + errText(err))
				return
			}
			r.fill(b)
			r.result.SetText("")
			r.u.state("rules:loaded")
		}
	})
}

// wholeField reads a number field from 0 to max.
func wholeField(name, s string, max int) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s: type a whole number of minutes", name)
	}
	if n < 0 || n > max {
		return 0, fmt.Errorf("%s: %d is out of range (0 to %d)", name, n, max)
	}
	return n, nil
}

// parseRules reads the rules staff typed. It names the first bad field, and
// checks the whole with protocol.Rules.Validate (what the hub checks too).
func parseRules(session, daily, warnings, idle, cutoff string, open, close [7]string, closed [7]bool, exceptions string) (protocol.Rules, error) {
	var x protocol.Rules
	var err error
	if x.SessionMinutes, err = wholeField("Session length", session, 24*60); err != nil {
		return x, err
	}
	if x.DailyMinutes, err = wholeField("Daily allowance", daily, 24*60); err != nil {
		return x, err
	}
	if x.IdleMinutes, err = wholeField("Idle end", idle, 24*60); err != nil {
		return x, err
	}
	if x.CutoffMinutes, err = wholeField("Last sign-in", cutoff, 24*60); err != nil {
		return x, err
	}
	x.Warnings = []int{}
	for _, w := range strings.FieldsFunc(warnings, func(r rune) bool { return r == ',' || r == ' ' }) {
		n, err := strconv.Atoi(w)
		if err != nil || n < 1 || n > 24*60 {
			return x, fmt.Errorf("Warnings: %q is not a number of minutes from 1 to %d", shown(w), 24*60)
		}
		x.Warnings = append(x.Warnings, n)
	}
	any := false
	for i := range 7 {
		any = any || closed[i] || strings.TrimSpace(open[i]) != "" || strings.TrimSpace(close[i]) != ""
	}
	if any {
		x.Hours = make([]protocol.DayHours, 7)
		for i := range 7 {
			day := time.Weekday(i).String()
			o, c := strings.TrimSpace(open[i]), strings.TrimSpace(close[i])
			if closed[i] {
				if o != "" || c != "" {
					return x, fmt.Errorf("%s: closed, yet with hours; clear them or untick closed", day)
				}
				x.Hours[i] = protocol.DayHours{Closed: true}
				continue
			}
			if o == "" || c == "" {
				return x, fmt.Errorf("%s: give both opening and closing times (HH:MM), or tick closed", day)
			}
			x.Hours[i] = protocol.DayHours{Open: o, Close: c}
		}
	}
	for n, line := range strings.Split(exceptions, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return x, fmt.Errorf("Exceptions, line %d: want a date and hours (2026-12-24 09:00-13:00) or closed", n+1)
		}
		e := protocol.HoursException{Date: f[0]}
		if strings.EqualFold(f[1], "closed") {
			e.Closed = true
		} else {
			o, c, ok := strings.Cut(f[1], "-")
			if !ok {
				return x, fmt.Errorf("Exceptions, line %d: hours are HH:MM-HH:MM", n+1)
			}
			e.Open, e.Close = o, c
		}
		x.Exceptions = append(x.Exceptions, e)
	}
	if err := x.Validate(); err != nil {
		return x, err
	}
	return x, nil
}

func (r *rulesView) store() {
	var open, close [7]string
	var closed [7]bool
	for i := range 7 {
		open[i], close[i], closed[i] = r.open[i].Text, r.close[i].Text, r.closed[i].Checked
	}
	x, err := parseRules(r.session.Text, r.daily.Text, r.warnings.Text, r.idle.Text, r.cutoff.Text, open, close, closed, r.exceptions.Text)
	if err != nil {
		r.result.SetText("Not saved: " + err.Error())
		return
	}
	r.send(&x, "Rules saved.")
}

// clear deletes the branch's own rules (it follows the defaults again).
func (r *rulesView) clear() {
	if strings.TrimSpace(r.branch.Text) == "" {
		r.result.SetText("The default rules cannot follow themselves: name a branch.")
		return
	}
	r.send(nil, "The branch follows the default rules again.")
}

func (r *rulesView) send(x *protocol.Rules, done string) {
	branch := strings.TrimSpace(r.branch.Text)
	hub := r.u.patronHub()
	r.save.Disable()
	r.result.SetText("Saving…")
	r.u.async(func(ctx context.Context) func() {
		err := hub.RulesSet(ctx, branch, x)
		return func() {
			r.save.Enable()
			if err != nil {
				r.result.SetText("Not saved: " + errText(err))
				return
			}
			r.result.SetText(done)
			r.u.state("rules:saved")
			r.fetch()
		}
	})
}
