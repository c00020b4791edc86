package ui

import (
	"fmt"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// eventsView is the event feed (every event, newest first) and the alerts
// (alert events and the terminals that are offline). Live alerts also raise a
// desktop notification (see UI.addEvents).
type eventsView struct {
	u            *UI
	log          *EventLog
	feed         *widget.List
	alerts       *widget.List
	offline      *widget.List
	offlineRows  []protocol.TerminalView
	alertRows    []protocol.EventView
	offlineTitle *widget.Label
	feedContent  fyne.CanvasObject
	alertContent fyne.CanvasObject
}

func newEventsView(u *UI) *eventsView {
	v := &eventsView{u: u, log: NewEventLog(1000)}
	v.feed = widget.NewList(func() int { return len(v.log.All()) }, listLine, func(i widget.ListItemID, o fyne.CanvasObject) {
		if all := v.log.All(); i < len(all) {
			o.(*widget.Label).SetText(eventLine(all[i], u.terminalName(all[i].Terminal)))
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
	open := func(id string) {
		if u.room != nil {
			if _, ok := u.room.model.Get(id); ok {
				u.tabs.SelectIndex(0)
				u.room.open(id)
			}
		}
	}
	v.feed.OnSelected = func(i widget.ListItemID) {
		v.feed.UnselectAll()
		if all := v.log.All(); i < len(all) {
			open(all[i].Terminal)
		}
	}
	v.alerts.OnSelected = func(i widget.ListItemID) {
		v.alerts.UnselectAll()
		if i < len(v.alertRows) {
			open(v.alertRows[i].Terminal)
		}
	}
	v.offline.OnSelected = func(i widget.ListItemID) {
		v.offline.UnselectAll()
		if i < len(v.offlineRows) {
			open(v.offlineRows[i].ID)
		}
	}
	v.feedContent = v.feed
	v.offlineTitle = widget.NewLabelWithStyle("Offline terminals: 0", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	split := container.NewVSplit(
		container.NewBorder(widget.NewLabelWithStyle("Alerts", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), nil, nil, nil, v.alerts),
		container.NewBorder(v.offlineTitle, nil, nil, nil, v.offline))
	v.alertContent = split
	return v
}

func (v *eventsView) refresh() {
	v.alertRows = v.log.Alerts()
	v.feed.Refresh()
	v.alerts.Refresh()
}

func (v *eventsView) refreshOffline() {
	v.offlineRows = v.u.room.model.Offline()
	v.offlineTitle.SetText(fmt.Sprintf("Offline terminals: %d", len(v.offlineRows)))
	v.offline.Refresh()
}

// eventLine is one event as plain text: time, severity, terminal (already as
// shown), kind, data; every agent string escaped (shown).
func eventLine(e protocol.EventView, terminal string) string {
	var b strings.Builder
	b.WriteString(e.Time.UTC().Format("2006-01-02 15:04:05"))
	b.WriteString("  ")
	b.WriteString(strings.ToUpper(string(e.Severity)))
	if terminal != "" {
		b.WriteString("  ")
		b.WriteString(terminal)
	}
	b.WriteString("  ")
	b.WriteString(shown(string(e.Kind)))
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString("  ")
		b.WriteString(shown(k))
		b.WriteString("=")
		b.WriteString(shown(e.Data[k]))
	}
	return b.String()
}
