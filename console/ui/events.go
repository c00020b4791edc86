package ui

import (
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// eventsView is the event feed (every event, newest first, as sentences,
// filtered by what staff type and by how recent) and the alerts (alert events and the terminals
// that are offline). Selecting an event shows its raw record beside the list,
// with a button to the PC. Live alerts also raise a desktop notification and
// a badge on the PC's tile (see UI.addEvents).
type eventsView struct {
	u            *UI
	log          *EventLog
	feed         *widget.List
	feedRows     []protocol.EventView // log.All() after the filter
	filter       *widget.Entry
	when         *widget.Select // how far back the feed goes (timeRanges)
	alerts       *widget.List
	offline      *widget.List
	offlineRows  []protocol.TerminalView
	alertRows    []protocol.EventView
	offlineTitle *widget.Label
	feedRaw      *rawPanel
	alertRaw     *rawPanel
	feedContent  fyne.CanvasObject
	alertContent fyne.CanvasObject
}

func newEventsView(u *UI) *eventsView {
	v := &eventsView{u: u, log: NewEventLog(1000)}
	v.feed = widget.NewList(func() int { return len(v.feedRows) }, listLine, func(i widget.ListItemID, o fyne.CanvasObject) {
		if i < len(v.feedRows) {
			o.(*widget.Label).SetText(eventLine(v.feedRows[i], u.terminalName(v.feedRows[i].Terminal)))
		}
	})
	v.alerts = widget.NewList(func() int { return len(v.alertRows) }, listLine, func(i widget.ListItemID, o fyne.CanvasObject) {
		if i < len(v.alertRows) {
			o.(*widget.Label).SetText(eventLine(v.alertRows[i], u.terminalName(v.alertRows[i].Terminal)))
		}
	})
	v.offline = widget.NewList(func() int { return len(v.offlineRows) }, listLine, func(i widget.ListItemID, o fyne.CanvasObject) {
		if i < len(v.offlineRows) {
			t := v.offlineRows[i]
			o.(*widget.Label).SetText(fmt.Sprintf("%s — offline, last seen %s", terminalLabel(t), timeText(t.LastSeen, u.opts.Now())))
		}
	})
	v.feedRaw, v.alertRaw = newRawPanel(u), newRawPanel(u)
	v.feed.OnSelected = func(i widget.ListItemID) {
		if i < len(v.feedRows) {
			v.feedRaw.showEvent(v.feedRows[i])
		}
	}
	v.alerts.OnSelected = func(i widget.ListItemID) {
		if i < len(v.alertRows) {
			v.alertRaw.showEvent(v.alertRows[i])
		}
	}
	v.offline.OnSelected = func(i widget.ListItemID) {
		v.offline.UnselectAll()
		if i < len(v.offlineRows) {
			u.openTerminal(v.offlineRows[i].ID)
		}
	}
	v.filter = widget.NewEntry()
	v.filter.SetPlaceHolder("Filter: a PC's name, a file, a word (\"blocked\", \"wipe\")")
	v.filter.OnChanged = func(string) { v.refresh() }
	v.when = widget.NewSelect(timeRangeNames(), func(string) { v.refresh() })
	v.when.SetSelected(timeRanges[0].name)
	feedSplit := container.NewHSplit(v.feed, v.feedRaw.content)
	feedSplit.Offset = 0.62
	v.feedContent = container.NewBorder(container.NewBorder(nil, nil, nil, v.when, v.filter), nil, nil, nil, feedSplit)
	v.offlineTitle = widget.NewLabelWithStyle("Offline terminals: 0", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	alertSplit := container.NewHSplit(
		container.NewBorder(widget.NewLabelWithStyle("Alerts", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), nil, nil, nil, v.alerts),
		v.alertRaw.content)
	alertSplit.Offset = 0.62
	v.alertContent = container.NewVSplit(alertSplit, container.NewBorder(v.offlineTitle, nil, nil, nil, v.offline))
	return v
}

// openTerminal shows a terminal's detail in the room.
func (u *UI) openTerminal(id string) {
	if u.room == nil {
		return
	}
	if _, ok := u.room.model.Get(id); ok {
		u.tabs.SelectIndex(0)
		u.room.open(id)
	}
}

// timeRanges are the feed's choices of how far back it goes: since returns
// the earliest time shown (zero: everything).
var timeRanges = []struct {
	name  string
	since func(now time.Time) time.Time
}{
	{"Any time", func(time.Time) time.Time { return time.Time{} }},
	{"Last hour", func(now time.Time) time.Time { return now.Add(-time.Hour) }},
	{"Today", func(now time.Time) time.Time {
		y, m, d := now.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, now.Location())
	}},
	{"Last 7 days", func(now time.Time) time.Time { return now.AddDate(0, 0, -7) }},
}

func timeRangeNames() []string {
	var out []string
	for _, r := range timeRanges {
		out = append(out, r.name)
	}
	return out
}

// since is the earliest event time the feed shows now.
func (v *eventsView) since() time.Time {
	for _, r := range timeRanges {
		if v.when != nil && r.name == v.when.Selected {
			return r.since(v.u.opts.Now())
		}
	}
	return time.Time{}
}

func (v *eventsView) refresh() {
	v.alertRows = v.log.Alerts()
	v.feedRows = v.feedRows[:0]
	words := strings.Fields(strings.ToLower(v.filter.Text))
	since := v.since()
	for _, e := range v.log.All() {
		if e.Time.Before(since) {
			continue
		}
		if len(words) == 0 || matchesAll(strings.ToLower(eventLine(e, v.u.terminalName(e.Terminal))+" "+string(e.Kind)), words) {
			v.feedRows = append(v.feedRows, e)
		}
	}
	v.feed.Refresh()
	v.alerts.Refresh()
}

func matchesAll(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

func (v *eventsView) refreshOffline() {
	v.offlineRows = v.u.room.model.Offline()
	v.offlineTitle.SetText(fmt.Sprintf("Offline terminals: %d", len(v.offlineRows)))
	v.offline.Refresh()
}

// eventLine is one event as a line of a list: its time and its sentence
// (eventSentence), terminal being the PC's name as shown ("" in the PC's own
// detail).
func eventLine(e protocol.EventView, terminal string) string {
	mark := ""
	if e.Severity == protocol.SeverityAlert {
		mark = "⚠ "
	}
	return e.Time.UTC().Format("2006-01-02 15:04:05") + "  " + mark + eventSentence(e, terminal)
}

// rawPanel shows one event's sentence and its raw record, with a button to
// the PC's detail.
type rawPanel struct {
	u        *UI
	sentence *widget.Label
	raw      *widget.Label
	open     *widget.Button
	terminal string
	content  fyne.CanvasObject
}

func newRawPanel(u *UI) *rawPanel {
	p := &rawPanel{u: u, sentence: plain(""), raw: selectable("")}
	p.sentence.TextStyle = fyne.TextStyle{Bold: true}
	p.raw.TextStyle = fyne.TextStyle{Monospace: true}
	p.open = widget.NewButton("Show the PC", func() { u.openTerminal(p.terminal) })
	p.open.Hide()
	p.sentence.SetText("Select an event to see all of it.")
	p.content = container.NewVScroll(container.NewVBox(p.sentence, p.raw, p.open))
	return p
}

func (p *rawPanel) showEvent(e protocol.EventView) {
	pc := p.u.terminalName(e.Terminal)
	p.terminal = e.Terminal
	p.sentence.SetText(eventSentence(e, pc))
	p.raw.SetText(rawEvent(e, pc))
	p.open.Show()
}
