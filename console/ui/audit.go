package ui

import (
	"context"
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// auditView lists the hub's audit log and verifies its hash chain.
type auditView struct {
	u       *UI
	rows    []protocol.AuditView
	list    *widget.List
	verify  *widget.Button
	result  *widget.Label
	content fyne.CanvasObject
}

func newAuditView(u *UI) *auditView {
	v := &auditView{u: u, result: plain("")}
	v.list = widget.NewList(func() int { return len(v.rows) },
		listLine,
		func(i widget.ListItemID, o fyne.CanvasObject) {
			a := v.rows[i]
			line := fmt.Sprintf("#%d  %s  %s  %s", a.ID, a.Time.UTC().Format("2006-01-02 15:04:05"), shown(a.Actor), shown(string(a.Action)))
			if a.Terminal != "" {
				line += "  " + u.terminalName(a.Terminal)
			}
			if a.Detail != "" {
				line += "  " + shown(a.Detail)
			}
			o.(*widget.Label).SetText(line + "  → " + shown(a.Result))
		})
	v.verify = widget.NewButton("Verify the chain", v.runVerify)
	reload := widget.NewButton("Refresh", v.load)
	v.content = container.NewBorder(container.NewVBox(container.NewHBox(reload, v.verify), v.result), nil, nil, nil, v.list)
	v.load()
	return v
}

func (v *auditView) load() {
	v.u.async(func(ctx context.Context) func() {
		rows, err := v.u.client.AuditList(ctx, protocol.AuditArgs{Limit: 500})
		return func() {
			if err != nil {
				v.result.SetText("Could not load the audit log: " + errText(err))
				return
			}
			v.rows = rows
			v.list.Refresh()
		}
	})
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
