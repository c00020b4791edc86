package ui

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// auditView lists the hub's audit log, newest first, as sentences ("ann
// locked pc-07"), filtered by words and time like the events feed, with the
// raw row beside the list, and verifies its hash chain.
//
// It stays current without Refresh: the staff API pushes no audit rows
// (2026-12), so the view asks for the rows after the newest it holds whenever
// a push arrives (poke: what staff and agents do shows up as terminal and
// event pushes), after the admin's own actions, and on the console's clock
// tick while the tab is shown. The first load starts a little below the
// hub's signed audit head (hub.info), since audit.list pages from the oldest
// row up.
type auditView struct {
	u       *UI
	rows    []protocol.AuditView // newest first, at most maxAuditRows
	shown   []protocol.AuditView // rows after the filter, newest first
	filter  *widget.Entry        // words every row shown contains
	when    *widget.Select       // how far back the list goes (timeRanges)
	list    *widget.List
	verify  *widget.Button
	result  *widget.Label
	raw     *widget.Label
	title   *widget.Label
	sel     int64 // the row selected, 0 for none
	loading bool  // a load is in flight
	again   bool  // load once more when it ends
	content fyne.CanvasObject
}

const (
	maxAuditRows  = 1000
	auditPage     = 200 // the hub's largest audit.list answer
	auditFirstFew = 500 // rows below the head the first load starts at
)

func newAuditView(u *UI) *auditView {
	v := &auditView{u: u, result: plain(""), raw: selectable(""), title: plain("Select a row to see all of it.")}
	v.title.TextStyle = fyne.TextStyle{Bold: true}
	v.raw.TextStyle = fyne.TextStyle{Monospace: true}
	v.list = widget.NewList(func() int { return len(v.shown) },
		listLine,
		func(i widget.ListItemID, o fyne.CanvasObject) {
			if i < len(v.shown) {
				o.(*widget.Label).SetText(auditLine(v.shown[i], u))
			}
		})
	v.list.OnSelected = func(i widget.ListItemID) {
		if i < len(v.shown) {
			v.show(v.shown[i])
		}
	}
	v.filter = widget.NewEntry()
	v.filter.SetPlaceHolder("Filter: a PC's name, a staff member, an action (\"locked\", \"released\")")
	v.filter.OnChanged = func(string) { v.apply() }
	v.when = widget.NewSelect(timeRangeNames(), func(string) { v.apply() })
	v.when.SetSelected(timeRanges[0].name)
	v.verify = widget.NewButton("Verify the chain", v.runVerify)
	reload := widget.NewButton("Refresh", v.poke)
	split := container.NewHSplit(v.list, container.NewVScroll(container.NewVBox(v.title, v.raw)))
	split.Offset = 0.62
	v.content = container.NewBorder(container.NewVBox(container.NewHBox(reload, v.verify), v.result,
		container.NewBorder(nil, nil, nil, v.when, v.filter)), nil, nil, nil, split)
	v.poke()
	return v
}

// auditLine is one row as a line: its time and its sentence.
func auditLine(a protocol.AuditView, u *UI) string {
	pc := ""
	if a.Terminal != "" {
		pc = u.terminalName(a.Terminal)
	}
	return a.Time.UTC().Format("2006-01-02 15:04:05") + "  " + auditSentence(a, pc)
}

func (v *auditView) show(a protocol.AuditView) {
	pc := ""
	if a.Terminal != "" {
		pc = v.u.terminalName(a.Terminal)
	}
	v.sel = a.ID
	v.title.SetText(auditSentence(a, pc))
	v.raw.SetText(rawAudit(a, pc))
}

// poke fetches the rows after the newest held; one load at a time.
func (v *auditView) poke() {
	if v.loading {
		v.again = true
		return
	}
	v.loading = true
	after := int64(0)
	if len(v.rows) > 0 {
		after = v.rows[0].ID
	}
	v.u.async(func(ctx context.Context) func() {
		if after == 0 {
			if info, err := v.u.client.HubInfo(ctx); err == nil {
				if h, err := protocol.ParseAuditHead(info.AuditHead); err == nil {
					after = max(0, h.Seq-auditFirstFew)
				}
			}
		}
		var got []protocol.AuditView
		var err error
		for range maxAuditRows/auditPage + 1 {
			var page []protocol.AuditView
			page, err = v.u.client.AuditList(ctx, protocol.AuditArgs{SinceID: after, Limit: auditPage})
			if err != nil {
				break
			}
			for _, a := range page {
				after = max(after, a.ID)
			}
			got = append(got, page...)
			if len(page) < auditPage {
				break
			}
		}
		return func() {
			v.loading = false
			if err != nil {
				v.result.SetText("Could not load the audit log: " + errText(err))
			}
			v.add(got)
			if v.again {
				v.again = false
				v.poke()
			}
		}
	})
}

// add puts new rows (any order) in front, once each, newest first.
func (v *auditView) add(rows []protocol.AuditView) {
	if len(rows) == 0 {
		if v.when != nil && v.when.Selected != timeRanges[0].name {
			v.apply() // the window moved on with the clock
		}
		return
	}
	have := map[int64]bool{}
	for _, a := range v.rows {
		have[a.ID] = true
	}
	for _, a := range rows {
		if !have[a.ID] {
			have[a.ID] = true
			v.rows = append(v.rows, a)
		}
	}
	slices.SortFunc(v.rows, func(a, b protocol.AuditView) int { return cmp.Compare(b.ID, a.ID) })
	if len(v.rows) > maxAuditRows {
		v.rows = v.rows[:maxAuditRows]
	}
	v.apply()
}

// apply shows the rows that pass the filter's words (in the row's sentence,
// its PC, actor or action) and the time choice, keeping the selection.
func (v *auditView) apply() {
	if v.filter == nil || v.when == nil {
		return // still being built
	}
	words := strings.Fields(strings.ToLower(v.filter.Text))
	since := time.Time{}
	for _, r := range timeRanges {
		if r.name == v.when.Selected {
			since = r.since(v.u.opts.Now())
		}
	}
	v.shown = v.shown[:0]
	for _, a := range v.rows {
		if a.Time.Before(since) {
			continue
		}
		if len(words) == 0 || matchesAll(strings.ToLower(auditLine(a, v.u)+" "+a.Actor+" "+string(a.Action)), words) {
			v.shown = append(v.shown, a)
		}
	}
	v.list.UnselectAll()
	if i := slices.IndexFunc(v.shown, func(a protocol.AuditView) bool { return a.ID == v.sel }); i >= 0 {
		v.list.Select(i)
	}
	v.list.Refresh()
}

func (v *auditView) runVerify() {
	v.verify.Disable()
	v.result.SetText("Verifying…")
	v.u.async(func(ctx context.Context) func() {
		res, err := v.u.client.AuditVerify(ctx)
		return func() {
			v.verify.Enable()
			v.result.SetText(verifyText(res, err))
		}
	})
}

func verifyText(res protocol.AuditVerifyView, err error) string {
	switch {
	case err != nil:
		return "Could not verify: " + errText(err)
	case res.OK:
		return fmt.Sprintf("OK: the chain of %d rows is intact.", res.Rows)
	}
	return fmt.Sprintf("BROKEN at row %d of %d: %s", res.BadRow, res.Rows, shown(res.Problem))
}
