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

// PatronHub is what the patron session's screens need from the hub, beside
// HubClient: console/hubclient.Client implements it. A client without it
// (an older test double) gets no patron screens.
type PatronHub interface {
	// SessionGet is a PC's patron session and its branch's rules (desk).
	SessionGet(ctx context.Context, terminal string) (protocol.SessionView, error)
	// SessionTime adds (negative: removes) minutes; the new grant (desk).
	SessionTime(ctx context.Context, terminal string, minutes int) (protocol.Grant, error)
	// GuestCreate makes a batch of guest passes, the codes shown once (desk).
	GuestCreate(ctx context.Context, args protocol.GuestCreateArgs) (protocol.GuestPassesView, error)
	// RulesGet and RulesSet read and replace a branch's rules (admin).
	RulesGet(ctx context.Context, branch string) (protocol.BranchRules, error)
	RulesSet(ctx context.Context, branch string, r *protocol.Rules) error
	// ILSLink is the state of the hub's link to the ILS (desk).
	ILSLink(ctx context.Context) (protocol.ILSLink, error)
}

// patronHub is the client's patron half, nil if it has none.
func (u *UI) patronHub() PatronHub {
	p, _ := u.client.(PatronHub)
	return p
}

// patronOf is the patron session a terminal reports, nil when none.
func patronOf(t protocol.TerminalView) *protocol.PatronView {
	if t.Status == nil || t.Status.Session != protocol.SessionInUse {
		return nil
	}
	return t.Status.Patron
}

// patronKindText is how a tile names a session's kind: "guest" or "card".
func patronKindText(k protocol.PatronKind) string {
	if k == protocol.PatronGuest {
		return "guest"
	}
	return "card"
}

// leftText is the time left until ends, e.g. "12m left", "ending".
func leftText(ends, now time.Time) string {
	if ends.IsZero() {
		return ""
	}
	d := ends.Sub(now)
	if d <= 0 {
		return "ending"
	}
	if d < time.Minute {
		return "<1m left"
	}
	// Round up: 59.5 minutes left reads "60m left", as the patron's strip counts.
	return shortDuration((d+time.Minute-1)/time.Minute*time.Minute) + " left"
}

// patronTileText is a tile's second line for a PC in a patron session:
// "card 12m left", "guest <1m left". Nil patron: "".
func patronTileText(p *protocol.PatronView, now time.Time) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(patronKindText(p.Kind) + " " + leftText(p.Ends, now))
}

// applyGrant puts a new grant's end into the room's view of its terminal (the
// agent's next status says the same; staff should not wait for it) and
// redraws the room.
func (u *UI) applyGrant(id string, g protocol.Grant) {
	if u.room == nil {
		return
	}
	t, ok := u.room.model.Get(id)
	if !ok || t.Status == nil || t.Status.Patron == nil || t.Status.Patron.Grant != g.ID {
		return
	}
	s := *t.Status // the view's Status is shared with the pushed copy: replace, never edit
	p := *s.Patron
	p.Ends = g.Ends
	s.Patron = &p
	t.Status = &s
	u.room.model.Apply(t)
	u.room.refresh()
}

// rulesText describes a branch's rules in one paragraph for a PC's detail.
func rulesText(v protocol.SessionView) string {
	r := v.Rules
	branch := "default rules"
	if v.Branch != "" {
		branch = "branch " + shown(v.Branch)
	}
	parts := []string{branch}
	if r.SessionMinutes > 0 {
		parts = append(parts, fmt.Sprintf("sessions of %d min", r.SessionMinutes))
	} else {
		parts = append(parts, "no session limit")
	}
	if r.DailyMinutes > 0 {
		parts = append(parts, fmt.Sprintf("%d min a day per card", r.DailyMinutes))
	} else {
		parts = append(parts, "no daily limit")
	}
	parts = append(parts, "warnings at "+intsText(r.WarningsOrDefault())+" min before the end")
	if r.IdleMinutes > 0 {
		parts = append(parts, fmt.Sprintf("ends after %d min idle", r.IdleMinutes))
	}
	return strings.Join(parts, ", ") + "."
}

// sessionText is what a PC's detail says of its running session.
func sessionText(v protocol.SessionView, now time.Time) string {
	g := v.Grant
	if g == nil {
		return "No patron is signed in."
	}
	who := "Guest pass"
	if g.Kind == protocol.PatronCard {
		who = "Card " + shown(g.Patron) // a daily pseudonym, never the number
	}
	ends := fmt.Sprintf("%s, signed in %s, ends %s (%s", who, g.Issued.In(time.Local).Format("15:04"),
		g.Ends.In(time.Local).Format("15:04"), leftText(g.Ends, now))
	if g.EndsBy != "" {
		ends += ", set by " + endsByText(g.EndsBy)
	}
	return ends + ")."
}

// endsByText says in words what set a session's end.
func endsByText(s string) string {
	switch s {
	case "session":
		return "the session length"
	case "allowance":
		return "today's allowance"
	case "closing":
		return "closing time"
	case "guest":
		return "the guest pass"
	case "staff":
		return "staff"
	}
	return shown(s)
}

func intsText(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// patronPanel is the part of a PC's detail about its patron session: the
// grant, the branch's rules, and adding or removing time (desk may).
type patronPanel struct {
	u       *UI
	id      string // terminal shown
	grant   string // grant ID the session text was loaded for
	session *widget.Label
	rules   *widget.Label
	minutes *widget.Entry
	add     *widget.Button
	remove  *widget.Button
	result  *widget.Label
	content *fyne.Container
}

func newPatronPanel(u *UI) *patronPanel {
	p := &patronPanel{u: u, session: plain(""), rules: plain(""), result: plain("")}
	p.rules.Importance = widget.LowImportance
	p.minutes = widget.NewEntry()
	p.minutes.SetText("15")
	p.add = widget.NewButton("Add time", func() { p.change(1) })
	p.remove = widget.NewButton("Remove time", func() { p.change(-1) })
	p.content = container.NewVBox(
		widget.NewLabelWithStyle("Patron session", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		p.session, p.rules,
		container.NewBorder(nil, nil, widget.NewLabel("Minutes"), container.NewHBox(p.add, p.remove), p.minutes),
		p.result)
	if u.patronHub() == nil {
		p.content.Hide()
	}
	return p
}

// show fills the panel for t; the session and rules are asked of the hub when
// the PC or its grant changes.
func (p *patronPanel) show(t protocol.TerminalView) {
	if p.u.patronHub() == nil {
		return
	}
	pv := patronOf(t)
	grant := ""
	if pv != nil {
		grant = pv.Grant
	}
	if pv == nil {
		p.add.Disable()
		p.remove.Disable()
	} else {
		p.add.Enable()
		p.remove.Enable()
	}
	if t.ID != p.id {
		p.result.SetText("")
	}
	if t.ID == p.id && grant == p.grant {
		return
	}
	p.id, p.grant = t.ID, grant
	p.load()
}

// load asks the hub for the shown PC's session and rules.
func (p *patronPanel) load() {
	id := p.id
	hub := p.u.patronHub()
	p.u.async(func(ctx context.Context) func() {
		v, err := hub.SessionGet(ctx, id)
		return func() {
			if p.id != id {
				return
			}
			if err != nil {
				p.session.SetText("Session: " + errText(err))
				p.rules.SetText("")
				return
			}
			p.session.SetText(sessionText(v, p.u.opts.Now()))
			p.rules.SetText("Rules: " + rulesText(v))
		}
	})
}

// parseMinutes reads the minutes staff typed: a whole number from 1 to a day.
func parseMinutes(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("minutes: type a whole number, e.g. 15")
	}
	if n < 1 || n > 24*60 {
		return 0, fmt.Errorf("minutes: %d is out of range (1 to %d)", n, 24*60)
	}
	return n, nil
}

// change adds (sign 1) or removes (-1) the minutes typed.
func (p *patronPanel) change(sign int) {
	n, err := parseMinutes(p.minutes.Text)
	if err != nil {
		p.result.SetText(err.Error())
		return
	}
	id, hub := p.id, p.u.patronHub()
	verb := "Add time"
	if sign < 0 {
		verb = "Remove time"
	}
	p.add.Disable()
	p.remove.Disable()
	p.result.SetText(verb + ": waiting for the hub…")
	p.u.async(func(ctx context.Context) func() {
		g, err := hub.SessionTime(ctx, id, sign*n)
		return func() {
			p.add.Enable()
			p.remove.Enable()
			if err != nil {
				if p.id == id {
					p.result.SetText(verb + " failed: " + errText(err))
				}
				return
			}
			p.u.applyGrant(id, g)
			if p.id == id {
				p.result.SetText(fmt.Sprintf("%s: done, the session now ends at %s.", verb, g.Ends.In(time.Local).Format("15:04")))
				p.load()
			}
		}
	})
}
