package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
	"github.com/carrel-kiosk/carrel/internal/cli"
	"github.com/carrel-kiosk/carrel/internal/guestsheet"
	"github.com/carrel-kiosk/carrel/internal/patron"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// The patron session's commands: guest passes, branch rules and hours. They
// write the hub's database like token create; the running hub reads rules at
// each sign-in, so a change holds from the next one.

const guestUsage = "guest create --count N (--minutes M | --day) [--branch NAME] [--pdf FILE] [--library NAME] [--data DIR]"

func runGuest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, "usage: carrel-hub "+guestUsage)
			return 0
		}
		fmt.Fprintln(stderr, "usage: carrel-hub "+guestUsage)
		return 2
	}
	fs, data := newFlags("guest create", strings.TrimPrefix(guestUsage, "guest create "), stderr)
	count := fs.Int("count", 0, "how many passes to make (1 to 500)")
	minutes := fs.Int("minutes", 0, "each pass is good for one session of this many minutes")
	day := fs.Bool("day", false, "each pass is good for one session until closing time")
	branch := fs.String("branch", "", "the branch the passes are for (printed on the sheet; any branch accepts them)")
	pdf := fs.String("pdf", "", "also write a printable sheet (A4, ten passes a page) to this PDF file")
	library := fs.String("library", "", "the library's name on the sheet")
	if code := parse(fs, args[1:], exactly(0)); code >= 0 {
		return code
	}
	if *count < 1 || *count > patron.MaxGuestBatch || *day == (*minutes > 0) || *minutes < 0 {
		fmt.Fprintf(stderr, "carrel-hub guest create: give --count 1 to %d, and --minutes M or --day (not both)\n", patron.MaxGuestBatch)
		return 2
	}
	_, st, err := openExisting(*data)
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	p, err := patron.CreateGuestPasses(ctx, st, patron.GuestBatch{Count: *count, Minutes: *minutes, Branch: *branch}, localActor(), time.Now())
	if err != nil {
		return fail(stderr, err)
	}
	if *pdf != "" {
		name := *library
		if name == "" {
			name = *branch
		}
		var b strings.Builder
		v := protocol.GuestPassesView{Batch: p.Batch, Codes: p.Codes, Minutes: p.Minutes, Expires: p.Expires}
		if err := guestsheet.Write(&b, v, name, time.Local); err != nil {
			return fail(stderr, err)
		}
		if err := atomicfile.WriteFile(*pdf, []byte(b.String()), 0o600); err != nil {
			return fail(stderr, err)
		}
	}
	what := fmt.Sprintf("%d minutes", p.Minutes)
	if p.Minutes == 0 {
		what = "the day"
	}
	fmt.Fprintf(stdout, "%d guest passes, each for one session of %s, to be used by %s (batch %s).\n"+
		"The hub keeps only their hashes: these codes are not shown again.\n\n",
		len(p.Codes), what, p.Expires.Local().Add(-time.Minute).Format("Mon 2 Jan 15:04"), p.Batch)
	for _, c := range p.Codes {
		fmt.Fprintln(stdout, c)
	}
	if *pdf != "" {
		fmt.Fprintf(stdout, "\nSheet written to %s\n", *pdf)
	}
	return 0
}

const rulesUsage = "rules show|set [--branch NAME] [--session M] [--daily M] [--warnings 10,5,1] [--idle M] [--idle-warn S] [--cutoff M] [--default] [--data DIR]"

func runRules(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sub, ok := subcommand(args, rulesUsage, stdout, stderr)
	if !ok {
		return sub
	}
	fs, data := newFlags("rules "+args[0], "[--branch NAME] ...", stderr)
	branch := fs.String("branch", "", "the branch (\"\": the default rules every branch without its own follows)")
	asJSON := fs.Bool("json", false, "show: print JSON")
	session := fs.Int("session", 0, "set: longest session in minutes (0: no limit but the allowance and closing)")
	daily := fs.Int("daily", 0, "set: a card's minutes per day across every PC (0: no daily limit)")
	warnings := fs.String("warnings", "", "set: minutes before the end at which the patron is warned, comma-separated (default 10,5,1)")
	idle := fs.Int("idle", 0, "set: end a session after this many minutes without input (0: never)")
	idleWarn := fs.Int("idle-warn", 0, "set: warn this many seconds before the idle end (default 60)")
	cutoff := fs.Int("cutoff", 0, "set: no sign-in with fewer than this many minutes before closing")
	def := fs.Bool("default", false, "set: delete the branch's own rules, so that it follows the defaults")
	if code := parse(fs, args[1:], exactly(0)); code >= 0 {
		return code
	}
	_, st, err := openExisting(*data)
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	r, own, err := patron.BranchRules(ctx, st, *branch)
	if err != nil {
		return fail(stderr, err)
	}
	if args[0] == "show" {
		if *asJSON {
			json.NewEncoder(stdout).Encode(protocol.BranchRules{Branch: *branch, Own: own, Rules: r})
			return 0
		}
		printRules(stdout, *branch, own, r)
		return 0
	}
	if *def {
		if err := st.SetPatronRules(ctx, *branch, nil, localActor()); err != nil {
			return fail(stderr, err)
		}
		fmt.Fprintf(stdout, "Branch %q follows the default rules.\n", *branch)
		return 0
	}
	var perr error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "session":
			r.SessionMinutes = *session
		case "daily":
			r.DailyMinutes = *daily
		case "idle":
			r.IdleMinutes = *idle
		case "idle-warn":
			r.IdleWarnSeconds = *idleWarn
		case "cutoff":
			r.CutoffMinutes = *cutoff
		case "warnings":
			r.Warnings = []int{}
			for _, w := range cli.SplitList(*warnings) {
				n, err := strconv.Atoi(w)
				if err != nil {
					perr = fmt.Errorf("--warnings %q: want minutes, comma-separated", *warnings)
				}
				r.Warnings = append(r.Warnings, n)
			}
		}
	})
	if perr != nil {
		fmt.Fprintln(stderr, "carrel-hub rules set:", perr)
		return 2
	}
	if err := st.SetPatronRules(ctx, *branch, &r, localActor()); err != nil {
		return fail(stderr, err)
	}
	printRules(stdout, *branch, true, r)
	return 0
}

// subcommand checks that args start with show or set; ok false returns the
// exit code.
func subcommand(args []string, usage string, stdout, stderr io.Writer) (int, bool) {
	if len(args) > 0 && (args[0] == "show" || args[0] == "set") {
		return 0, true
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprintln(stdout, "usage: carrel-hub "+usage)
		return 0, false
	}
	fmt.Fprintln(stderr, "usage: carrel-hub "+usage)
	return 2, false
}

func branchName(b string) string {
	if b == "" {
		return "Default rules (every branch without its own)"
	}
	return "Rules of branch " + strconv.Quote(b)
}

func printRules(w io.Writer, branch string, own bool, r protocol.Rules) {
	from := ""
	if !own && branch != "" {
		from = " (its own are not set: the defaults)"
	}
	limit := func(n int, none string) string {
		if n == 0 {
			return none
		}
		return fmt.Sprintf("%d minutes", n)
	}
	ws := make([]string, 0, 3)
	for _, m := range r.WarningsOrDefault() {
		ws = append(ws, strconv.Itoa(m))
	}
	fmt.Fprintf(w, "%s%s:\n", branchName(branch), from)
	fmt.Fprintf(w, "  session length:   %s\n", limit(r.SessionMinutes, "no limit"))
	fmt.Fprintf(w, "  daily allowance:  %s\n", limit(r.DailyMinutes, "no limit"))
	fmt.Fprintf(w, "  warnings at:      %s minutes before the end\n", strings.Join(ws, ", "))
	idle := limit(r.IdleMinutes, "never")
	if r.IdleMinutes > 0 {
		s := r.IdleWarnSeconds
		if s == 0 {
			s = protocol.DefaultIdleWarnSeconds
		}
		idle += fmt.Sprintf(" without input (warned %d s before)", s)
	}
	fmt.Fprintf(w, "  idle end:         %s\n", idle)
	fmt.Fprintf(w, "  last sign-in:     %s\n", limit(r.CutoffMinutes, "until closing")+map[bool]string{true: " before closing", false: ""}[r.CutoffMinutes > 0])
	fmt.Fprintf(w, "Opening hours:\n%s", indent(patron.FormatWeek(r.Hours)))
	for _, e := range r.Exceptions {
		fmt.Fprintf(w, "  %s %s\n", e.Date, dayText(e.DayHours))
	}
}

func dayText(h protocol.DayHours) string {
	if h.Closed {
		return "closed"
	}
	return h.Open + "-" + h.Close
}

func indent(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "")
}

const hoursUsage = `hours show|set [--branch NAME] [--week "mon-fri 09:00-20:00; sat 10:00-16:00"] [--closed DATE] [--special DATE=HH:MM-HH:MM] [--clear DATE] [--data DIR]`

// dateList is a repeatable flag.
type dateList []string

func (d *dateList) String() string     { return strings.Join(*d, ",") }
func (d *dateList) Set(v string) error { *d = append(*d, v); return nil }

func runHours(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sub, ok := subcommand(args, hoursUsage, stdout, stderr)
	if !ok {
		return sub
	}
	fs, data := newFlags("hours "+args[0], "[--branch NAME] ...", stderr)
	branch := fs.String("branch", "", "the branch (\"\": the default rules)")
	week := fs.String("week", "", `set: the weekly hours, e.g. "mon-fri 09:00-20:00; sat 10:00-16:00" (days left out are closed; "always": no hours, never closed)`)
	var closed, special, clear dateList
	fs.Var(&closed, "closed", "set: a date (YYYY-MM-DD) the library is closed; repeatable")
	fs.Var(&special, "special", "set: special hours on a date, DATE=HH:MM-HH:MM; repeatable")
	fs.Var(&clear, "clear", "set: forget the exception of a date; repeatable")
	if code := parse(fs, args[1:], exactly(0)); code >= 0 {
		return code
	}
	_, st, err := openExisting(*data)
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	r, own, err := patron.BranchRules(ctx, st, *branch)
	if err != nil {
		return fail(stderr, err)
	}
	if args[0] == "show" {
		printRules(stdout, *branch, own, r)
		return 0
	}
	if err := editHours(&r, *week, closed, special, clear); err != nil {
		fmt.Fprintln(stderr, "carrel-hub hours set:", err)
		return 2
	}
	if err := st.SetPatronRules(ctx, *branch, &r, localActor()); err != nil {
		return fail(stderr, err)
	}
	printRules(stdout, *branch, true, r)
	return 0
}

func editHours(r *protocol.Rules, week string, closed, special, clear []string) error {
	if week != "" {
		w, err := patron.ParseWeek(week)
		if err != nil {
			return err
		}
		r.Hours = w
	}
	drop := func(date string) {
		out := r.Exceptions[:0]
		for _, e := range r.Exceptions {
			if e.Date != date {
				out = append(out, e)
			}
		}
		r.Exceptions = out
	}
	for _, d := range clear {
		drop(d)
	}
	for _, d := range closed {
		drop(d)
		r.Exceptions = append(r.Exceptions, protocol.HoursException{Date: d, DayHours: protocol.DayHours{Closed: true}})
	}
	for _, s := range special {
		d, h, ok := strings.Cut(s, "=")
		if !ok {
			return errors.New("--special " + strconv.Quote(s) + ": want DATE=HH:MM-HH:MM")
		}
		dh, err := patron.ParseDayHours(h)
		if err != nil {
			return err
		}
		drop(d)
		r.Exceptions = append(r.Exceptions, protocol.HoursException{Date: d, DayHours: dh})
	}
	return nil
}
