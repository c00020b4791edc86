package ui

import (
	"context"
	"errors"
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// ErrSessionEnded is what a HubClient's link callback reports when the hub
// refused the session; the console goes back to the login screen. The client
// signals it by an error for which IsSessionEnded is true.
var ErrSessionEnded = errors.New("session ended: log in again")

// IsSessionEnded reports whether err means the session is over (the error or
// anything it wraps has a SessionEnded() bool method returning true, or is
// ErrSessionEnded).
func IsSessionEnded(err error) bool {
	if errors.Is(err, ErrSessionEnded) {
		return true
	}
	var s interface{ SessionEnded() bool }
	return errors.As(err, &s) && s.SessionEnded()
}

// showMain is the console after login: the room, events, alerts and, for
// admins, the admin screens, as tabs.
func (u *UI) showMain() {
	u.admin = adminViews{}
	u.room = newRoomView(u)
	u.feed = newEventsView(u)
	u.linkLabel = widget.NewLabel("Connecting…")
	who := widget.NewLabel(fmt.Sprintf("%s (%s)", u.login.User, u.login.Role))
	logout := widget.NewButton("Log out", func() {
		u.bridge.stop()
		u.async(func(ctx context.Context) func() {
			u.client.Logout(ctx)
			return func() { u.showLogin(nil) }
		})
	})
	tabs := []*container.TabItem{
		container.NewTabItem("Room", u.room.content),
		container.NewTabItem("Events", u.feed.feedContent),
		container.NewTabItem("Alerts", u.feed.alertContent),
	}
	if u.login.Role == protocol.RoleAdmin {
		u.admin.quarantine = newQuarantineView(u)
		u.admin.enroll = newEnrollView(u)
		u.admin.staff = newStaffView(u)
		u.admin.audit = newAuditView(u)
		u.admin.api = newAPIView(u)
		tabs = append(tabs,
			container.NewTabItem("Quarantine", u.admin.quarantine.content),
			container.NewTabItem("Enrollment", u.admin.enroll.content),
			container.NewTabItem("Staff", u.admin.staff.content),
			container.NewTabItem("Audit", u.admin.audit.content),
			container.NewTabItem("API", u.admin.api.content),
		)
	}
	u.patrons = nil
	if u.patronHub() != nil {
		u.patrons = newPatronsView(u)
		tabs = append(tabs, container.NewTabItem("Patrons", u.patrons.content))
	}
	u.reports = newReportsView(u)
	tabs = append(tabs, container.NewTabItem("Reports", u.reports.content))
	u.tabs = container.NewAppTabs(tabs...)
	u.tabs.OnSelected = func(t *container.TabItem) {
		if u.admin.api != nil && t.Content == u.admin.api.content {
			u.admin.api.load()
			u.admin.api.focus()
		}
		u.state("tab:" + t.Text)
	}
	u.banner = newAuditBanner()
	top := container.NewVBox(u.banner.content, container.NewBorder(nil, nil, nil, container.NewHBox(who, logout), u.linkLabel))
	main := container.NewBorder(top, nil, nil, nil, u.tabs)
	u.banner.parent = main
	u.banner.set(u.auditAlarm)
	u.show("room", main)
	u.bridge.start()
	u.bridge.reload()
	u.checkAuditHead()
}

// TabNames lists the tabs shown (tests check a desk member sees no admin tab).
func (u *UI) TabNames() []string {
	if u.tabs == nil {
		return nil
	}
	var out []string
	for _, t := range u.tabs.Items {
		out = append(out, t.Text)
	}
	return out
}

// apply takes a batch from the bridge; on the UI goroutine.
func (u *UI) apply(terms []protocol.TerminalView, events []protocol.EventView, link *linkChange) {
	if u.room == nil {
		return // not logged in (a late push after logout)
	}
	if len(terms) > 0 {
		for _, t := range terms {
			old, existed := u.room.model.Apply(t)
			if existed && old.Online && !t.Online && !t.Revoked {
				u.notify("Terminal offline", terminalLabel(t)+" went offline")
			}
		}
		u.room.refresh()
		u.feed.refreshOffline()
	}
	if len(events) > 0 {
		u.addEvents(events, true)
	}
	if len(terms) > 0 || len(events) > 0 {
		u.admin.pokeAudit()
	}
	if link != nil {
		switch {
		case link.up:
			u.setLink("Connected to the hub")
			u.bridge.reload() // terminals may have changed while the link was down
			u.checkAuditHead()
		case IsSessionEnded(link.err):
			u.bridge.stop()
			u.room, u.tabs = nil, nil
			u.showLogin(link.err)
		default:
			u.setLink("Reconnecting to the hub: " + errText(link.err))
		}
	}
}

func (u *UI) replaceRoom(all []protocol.TerminalView) {
	if u.room == nil {
		return
	}
	u.room.model.Replace(all)
	u.room.refresh()
	u.feed.refreshOffline()
	u.state(fmt.Sprintf("terminals:%d", len(all)))
}

// addEvents stores events; live ones that are alerts raise a notification.
func (u *UI) addEvents(evs []protocol.EventView, live bool) {
	if u.room == nil {
		return
	}
	added := u.feed.log.Add(evs...)
	if len(added) == 0 {
		return
	}
	if live {
		quarantine := false
		for _, e := range added {
			if e.Severity == protocol.SeverityAlert {
				u.notify("Carrel alert", u.terminalName(e.Terminal)+": "+shown(string(e.Kind)))
				if e.Terminal != u.room.selected {
					u.room.model.Alerted(e.Terminal)
				}
			}
			quarantine = quarantine || quarantineKinds[e.Kind]
		}
		if quarantine && u.admin.quarantine != nil {
			u.admin.quarantine.poke()
		}
	}
	u.feed.refresh()
	u.room.detailEvents(added)
	if live {
		u.room.grid.Refresh() // badges
	}
}

func (u *UI) notify(title, text string) {
	u.app.SendNotification(fyne.NewNotification(title, text))
}

// terminalName is the name of terminal id as shown (see shown), or its ID.
func (u *UI) terminalName(id string) string {
	if t, ok := u.room.model.Get(id); ok {
		return terminalLabel(t)
	}
	return shown(id)
}

func (u *UI) setLink(s string) {
	if u.linkLabel != nil {
		u.linkLabel.SetText(s)
	}
}

func (u *UI) refreshTimes() {
	if u.room != nil {
		u.room.refreshTimes()
	}
	if u.patrons != nil {
		u.patrons.pollILS()
	}
	// The feed's "last hour" moves on with the clock.
	if u.feed != nil && u.feed.when.Selected != timeRanges[0].name {
		u.feed.refresh()
	}
	// Audit rows nothing pushed (another console's login) show up within a
	// tick while the audit tab is open.
	if u.tabs != nil && u.admin.audit != nil && u.tabs.Selected() != nil && u.tabs.Selected().Content == u.admin.audit.content {
		u.admin.audit.poke()
	}
}

// pokeAudit asks the audit view, if any, for the rows after its newest.
func (a adminViews) pokeAudit() {
	if a.audit != nil {
		a.audit.poke()
	}
}
