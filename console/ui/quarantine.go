package ui

import (
	"context"
	"fmt"
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// quarantineView lists the files the agents quarantined; an admin reviews one
// and releases it with a release-quarantine command to its terminal. It
// reloads by itself when a download is blocked or a file released (poke,
// from the event pushes), keeping the record selected.
type quarantineView struct {
	u       *UI
	rows    []protocol.QuarantineView
	list    *widget.List
	fields  map[string]*widget.Label
	release *widget.Button
	status  *widget.Label
	sel     int
	loading bool // a load is in flight
	again   bool // load once more when it ends
	content fyne.CanvasObject
}

var quarantineFields = []string{"File", "Terminal", "Reason", "Size", "SHA-256", "Quarantined", "Record ID", "Released"}

func newQuarantineView(u *UI) *quarantineView {
	v := &quarantineView{u: u, fields: map[string]*widget.Label{}, sel: -1, status: plain("")}
	v.list = widget.NewList(func() int { return len(v.rows) },
		listLine,
		func(i widget.ListItemID, o fyne.CanvasObject) {
			q := v.rows[i]
			mark := ""
			if q.Released {
				mark = " (released)"
			}
			o.(*widget.Label).SetText(fmt.Sprintf("%s — %s — %s%s", shown(q.Name), u.terminalName(q.Terminal), shown(q.Reason), mark))
		})
	form := widget.NewForm()
	for _, f := range quarantineFields {
		l := plain("")
		l.Selectable = true
		v.fields[f] = l
		form.Append(f, l)
	}
	v.release = widget.NewButton("Release to the patron…", v.confirmRelease)
	v.release.Importance = widget.DangerImportance
	v.release.Disable()
	v.list.OnSelected = func(i widget.ListItemID) { v.pick(i) }
	reload := widget.NewButton("Refresh", v.poke)
	right := container.NewVBox(form, v.release, v.status)
	split := container.NewHSplit(v.list, container.NewVScroll(right))
	v.content = container.NewBorder(container.NewHBox(reload), nil, nil, nil, split)
	v.poke()
	return v
}

// poke reloads the list; one load at a time.
func (v *quarantineView) poke() {
	if v.loading {
		v.again = true
		return
	}
	v.loading = true
	v.u.async(func(ctx context.Context) func() {
		rows, err := v.u.client.QuarantineList(ctx)
		return func() {
			v.loading = false
			if v.again {
				v.again = false
				defer v.poke()
			}
			if err != nil {
				v.status.SetText("Could not load the quarantine: " + errText(err))
				return
			}
			var keep protocol.QuarantineView
			if v.sel >= 0 && v.sel < len(v.rows) {
				keep = v.rows[v.sel]
			}
			v.rows, v.sel = rows, -1
			v.release.Disable()
			v.list.UnselectAll()
			if i := slices.IndexFunc(rows, func(q protocol.QuarantineView) bool {
				return keep.ID != "" && q.ID == keep.ID && q.Terminal == keep.Terminal
			}); i >= 0 {
				v.list.Select(i)
			}
			v.list.Refresh()
		}
	})
}

// quarantineKinds are the events after which the quarantine list changed.
var quarantineKinds = map[protocol.EventKind]bool{protocol.EventDownloadBlocked: true, protocol.EventQuarantineReleased: true}

func (v *quarantineView) pick(i int) {
	if i < 0 || i >= len(v.rows) {
		return
	}
	v.sel = i
	q := v.rows[i]
	set := func(k, s string) { v.fields[k].SetText(shown(s)) }
	set("File", q.Name)
	set("Terminal", v.u.terminalName(q.Terminal))
	set("Reason", q.Reason)
	set("Size", fmt.Sprintf("%d bytes", q.Size))
	set("SHA-256", q.SHA256)
	set("Quarantined", timeText(q.Time, v.u.opts.Now()))
	set("Record ID", q.ID)
	set("Released", fmt.Sprint(q.Released))
	if q.Released {
		v.release.Disable()
	} else {
		v.release.Enable()
	}
	v.status.SetText("")
}

func (v *quarantineView) confirmRelease() {
	if v.sel < 0 || v.sel >= len(v.rows) {
		return
	}
	q := v.rows[v.sel]
	pc := v.u.terminalName(q.Terminal)
	msg := fmt.Sprintf("Carrel judged %s unsafe (%s) and kept it from the patron. Releasing it puts it back in the Downloads of the patron on %s, who can then open it. Only do this if you know the file and trust where it came from.",
		quoted(q.Name), shown(q.Reason), pc)
	confirmDanger(v.u.win, fmt.Sprintf("Release %s to %s?", quoted(q.Name), pc), msg,
		fmt.Sprintf("Release %s to %s", shown(q.Name), pc), func() {
			v.releaseNow(q)
		})
}

// releaseNow sends the release-quarantine command for q.
func (v *quarantineView) releaseNow(q protocol.QuarantineView) {
	v.release.Disable()
	v.status.SetText("Releasing…")
	v.u.async(func(ctx context.Context) func() {
		res, err := v.u.client.Command(ctx, q.Terminal, protocol.ActionReleaseQuarantine, map[string]string{protocol.ArgQuarantineID: q.ID})
		return func() {
			switch {
			case err != nil:
				v.status.SetText("Release failed: " + errText(err))
				v.release.Enable()
			case !res.OK:
				v.status.SetText("The terminal refused: " + shown(res.Error))
				v.release.Enable()
			default:
				v.status.SetText("Released. " + shown(res.Output))
				v.poke()
				v.u.admin.pokeAudit()
			}
		}
	})
}
