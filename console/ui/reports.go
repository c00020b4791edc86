package ui

import (
	"context"
	"encoding/csv"
	"fmt"
	"image/color"
	"io"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// reportsView shows the hub's usage counts for a range: the totals in words,
// sessions per day as a bar chart, the busy hours as a heat map (weekday ×
// hour) and a "Save CSV" of the day-by-day table. Any role may see it: the
// counts never name a patron.
type reportsView struct {
	u       *UI
	ranges  *widget.Select
	from    *widget.Entry
	to      *widget.Entry
	show    *widget.Button
	save    *widget.Button
	status  *widget.Label
	summary *widget.Label
	days    *barChart
	busy    *heatMap
	content fyne.CanvasObject

	report *protocol.Report // the last one shown; nil before
}

// reportRanges are the ranges the picker offers; "Custom" reads the dates.
var reportRanges = []string{"Last 7 days", "Last 30 days", "This month", "Last month", "This year", "Custom"}

const customRange = "Custom"

func newReportsView(u *UI) *reportsView {
	v := &reportsView{u: u, from: widget.NewEntry(), to: widget.NewEntry(), status: plain(""), summary: plain(""),
		days: newBarChart(), busy: newHeatMap()}
	v.from.SetPlaceHolder("YYYY-MM-DD")
	v.to.SetPlaceHolder("YYYY-MM-DD")
	v.ranges = widget.NewSelect(reportRanges, func(s string) {
		if s != customRange {
			f, t := presetRange(s, u.opts.Now())
			v.from.SetText(f.Format(time.DateOnly))
			v.to.SetText(t.AddDate(0, 0, -1).Format(time.DateOnly))
			v.load()
		}
	})
	v.show = widget.NewButton("Show", func() { v.ranges.SetSelected(customRange); v.load() })
	v.save = widget.NewButton("Save CSV…", v.saveDialog)
	v.save.Disable()
	picker := container.NewHBox(widget.NewLabel("Range"), v.ranges, widget.NewLabel("from"), sized(v.from, 130),
		widget.NewLabel("to"), sized(v.to, 130), v.show, v.save)
	charts := container.NewVBox(
		widget.NewLabelWithStyle("Sessions per day", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), v.days,
		widget.NewLabelWithStyle("Busy hours (sessions started, by weekday and hour)", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), v.busy)
	v.content = container.NewBorder(container.NewVBox(picker, v.status, v.summary), nil, nil, nil, container.NewVScroll(charts))
	v.ranges.SetSelected(reportRanges[1]) // loads the last 30 days
	return v
}

// sized gives an entry a width of its own in an HBox.
func sized(e *widget.Entry, w float32) fyne.CanvasObject {
	return container.NewGridWrap(fyne.NewSize(w, e.MinSize().Height), e)
}

// presetRange is a named range as [from, to) of whole days in now's zone.
func presetRange(name string, now time.Time) (time.Time, time.Time) {
	y, m, d := now.Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, now.Location())
	switch name {
	case "Last 7 days":
		return today.AddDate(0, 0, -6), today.AddDate(0, 0, 1)
	case "This month":
		first := time.Date(y, m, 1, 0, 0, 0, 0, now.Location())
		return first, today.AddDate(0, 0, 1)
	case "Last month":
		first := time.Date(y, m, 1, 0, 0, 0, 0, now.Location())
		return first.AddDate(0, -1, 0), first
	case "This year":
		return time.Date(y, 1, 1, 0, 0, 0, 0, now.Location()), today.AddDate(0, 0, 1)
	}
	return today.AddDate(0, 0, -29), today.AddDate(0, 0, 1)
}

// args reads the dates typed (the last day included), or says what is wrong.
func (v *reportsView) args() (protocol.ReportArgs, string) {
	loc := v.u.opts.Now().Location()
	f, err := time.ParseInLocation(time.DateOnly, v.from.Text, loc)
	if err != nil {
		return protocol.ReportArgs{}, "The first day is not a date: write it as YYYY-MM-DD."
	}
	t, err := time.ParseInLocation(time.DateOnly, v.to.Text, loc)
	if err != nil {
		return protocol.ReportArgs{}, "The last day is not a date: write it as YYYY-MM-DD."
	}
	if t.Before(f) {
		return protocol.ReportArgs{}, "The last day is before the first: the range is reversed."
	}
	a := protocol.ReportArgs{From: f, To: t.AddDate(0, 0, 1), By: protocol.PeriodDay}
	if err := a.Validate(); err != nil {
		return a, "A report covers at most 5 years."
	}
	return a, ""
}

func (v *reportsView) load() {
	a, msg := v.args()
	if msg != "" {
		v.status.SetText(msg)
		return
	}
	v.status.SetText("Counting…")
	v.u.async(func(ctx context.Context) func() {
		r, err := v.u.client.Report(ctx, a)
		return func() {
			if err != nil {
				v.status.SetText("Could not get the report: " + errText(err))
				return
			}
			v.setReport(&r)
		}
	})
}

// setReport shows r; on the UI goroutine.
func (v *reportsView) setReport(r *protocol.Report) {
	v.report = r
	v.status.SetText(fmt.Sprintf("%s to %s (days in %s)", r.From.Format(time.DateOnly), r.To.AddDate(0, 0, -1).Format(time.DateOnly), shown(r.Zone)))
	v.summary.SetText(reportSummary(r))
	labels, values := sessionsPerDay(r)
	v.days.set(labels, values)
	v.busy.set(r.Busy)
	v.save.Enable()
	v.u.state("report:" + fmt.Sprint(r.Total(protocol.MetricSessions)))
}

// reportSummary is the report's totals in words.
func reportSummary(r *protocol.Report) string {
	var clean, dirty, card, guest int64
	for _, t := range r.Totals {
		switch {
		case t.Metric == protocol.MetricWipes && t.Label == protocol.LabelClean:
			clean = t.N
		case t.Metric == protocol.MetricWipes && t.Label == protocol.LabelDirty:
			dirty = t.N
		case t.Metric == protocol.MetricSessions && t.Label == string(protocol.PatronCard):
			card = t.N
		case t.Metric == protocol.MetricSessions && t.Label == string(protocol.PatronGuest):
			guest = t.N
		}
	}
	s := fmt.Sprintf("%d sessions (%d with a card, %d guest passes), %d minutes used. %d wipes clean, %d dirty",
		r.Total(protocol.MetricSessions), card, guest, r.Total(protocol.MetricMinutes), clean, dirty)
	if clean > 0 {
		s += fmt.Sprintf(" (ready again after %d ms on average)", r.Total(protocol.MetricWipeReadyMS)/clean)
	}
	return s + fmt.Sprintf(". %d downloads and %d programs blocked; %d sign-ins refused.",
		r.Total(protocol.MetricBlocked), r.Total(protocol.MetricExecBlocked), r.Total(protocol.MetricSignInRefused))
}

// sessionsPerDay is one bar per day of the report's range, days without a
// session included.
func sessionsPerDay(r *protocol.Report) ([]string, []int64) {
	loc, err := time.LoadLocation(r.Zone)
	if err != nil {
		loc = r.From.Location()
	}
	per := map[string]int64{}
	for _, row := range r.Rows {
		if row.Metric == protocol.MetricSessions {
			per[row.Start.In(loc).Format(time.DateOnly)] += row.N
		}
	}
	var labels []string
	var values []int64
	for d := r.From.In(loc); d.Before(r.To) && len(labels) < 5*366; d = d.AddDate(0, 0, 1) {
		k := d.Format(time.DateOnly)
		labels, values = append(labels, k), append(values, per[k])
	}
	return labels, values
}

func (v *reportsView) saveDialog() {
	if v.report == nil {
		return
	}
	d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
		if err != nil || w == nil {
			return
		}
		defer w.Close()
		if err := v.writeCSV(w); err != nil {
			v.status.SetText("Could not save: " + errText(err))
			return
		}
		v.status.SetText("Saved " + shown(w.URI().Name()) + ".")
	}, v.u.win)
	d.SetFileName(fmt.Sprintf("carrel-report-%s-%s.csv", v.report.From.Format(time.DateOnly), v.report.To.AddDate(0, 0, -1).Format(time.DateOnly)))
	d.Show()
}

// writeCSV writes the report's table: a row per day, a column per metric.
func (v *reportsView) writeCSV(w io.Writer) error {
	c := csv.NewWriter(w)
	c.WriteAll(v.report.Table())
	return c.Error()
}

// barChart is a bar per value, drawn with canvas rectangles, the highest
// value written above the chart and the first and last labels below it.
type barChart struct {
	widget.BaseWidget
	labels []string
	values []int64
	bars   []*canvas.Rectangle
	top    *canvas.Text // the highest value
	first  *canvas.Text
	last   *canvas.Text
	box    *fyne.Container
}

const chartHeight = 180

func newBarChart() *barChart {
	c := &barChart{top: canvas.NewText("", theme.Color(theme.ColorNameForeground)),
		first: canvas.NewText("", theme.Color(theme.ColorNameForeground)), last: canvas.NewText("", theme.Color(theme.ColorNameForeground))}
	c.top.TextSize, c.first.TextSize, c.last.TextSize = 11, 11, 11
	c.box = container.New(&barLayout{c: c})
	c.ExtendBaseWidget(c)
	return c
}

func (c *barChart) set(labels []string, values []int64) {
	c.labels, c.values = labels, values
	c.bars = make([]*canvas.Rectangle, len(values))
	objs := []fyne.CanvasObject{c.top, c.first, c.last}
	for i := range values {
		c.bars[i] = canvas.NewRectangle(theme.Color(theme.ColorNamePrimary))
		objs = append(objs, c.bars[i])
	}
	var most int64
	for _, n := range values {
		most = max(most, n)
	}
	c.top.Text = fmt.Sprintf("%d sessions on the busiest day", most)
	if len(labels) > 0 {
		c.first.Text, c.last.Text = labels[0], labels[len(labels)-1]
	}
	c.box.Objects = objs
	c.box.Refresh()
	c.Refresh()
}

func (c *barChart) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(c.box) }

// barLayout places the bars side by side, their heights in proportion to the
// highest value.
type barLayout struct{ c *barChart }

func (l *barLayout) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.NewSize(300, chartHeight+40) }

func (l *barLayout) Layout(_ []fyne.CanvasObject, size fyne.Size) {
	c := l.c
	c.top.Move(fyne.NewPos(0, 0))
	c.top.Resize(c.top.MinSize())
	base := size.Height - 18
	c.first.Move(fyne.NewPos(0, base+2))
	c.first.Resize(c.first.MinSize())
	c.last.Resize(c.last.MinSize())
	c.last.Move(fyne.NewPos(size.Width-c.last.MinSize().Width, base+2))
	if len(c.bars) == 0 {
		return
	}
	var most int64
	for _, n := range c.values {
		most = max(most, n)
	}
	slot := size.Width / float32(len(c.bars))
	gap := min(slot*0.2, 4)
	for i, b := range c.bars {
		h := float32(0)
		if most > 0 {
			h = float32(c.values[i]) / float32(most) * (base - 18)
		}
		b.Move(fyne.NewPos(float32(i)*slot+gap/2, base-h))
		b.Resize(fyne.NewSize(slot-gap, h))
	}
}

// heatMap is 7 rows (Monday first) of 24 cells, each as dark as its count
// is near the busiest hour's.
type heatMap struct {
	widget.BaseWidget
	counts [7][24]int64
	cells  [7][24]*canvas.Rectangle
	box    *fyne.Container
}

var weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}

const (
	heatCell  = 22
	heatLabel = 40
)

func newHeatMap() *heatMap {
	m := &heatMap{}
	var objs []fyne.CanvasObject
	for r, d := range weekdays {
		t := canvas.NewText(d.String()[:3], theme.Color(theme.ColorNameForeground))
		t.TextSize = 11
		t.Move(fyne.NewPos(0, float32(r*heatCell+heatCell)+4))
		t.Resize(t.MinSize())
		objs = append(objs, t)
		for h := range 24 {
			cell := canvas.NewRectangle(heatColor(0, 0))
			cell.StrokeColor, cell.StrokeWidth = color.NRGBA{0x80, 0x80, 0x80, 0x40}, 1
			cell.Move(fyne.NewPos(heatLabel+float32(h*heatCell), float32(r*heatCell+heatCell)))
			cell.Resize(fyne.NewSize(heatCell, heatCell))
			m.cells[d][h] = cell
			objs = append(objs, cell)
		}
	}
	for h := 0; h < 24; h += 3 {
		t := canvas.NewText(fmt.Sprintf("%02d", h), theme.Color(theme.ColorNameForeground))
		t.TextSize = 11
		t.Move(fyne.NewPos(heatLabel+float32(h*heatCell)+3, 2))
		t.Resize(t.MinSize())
		objs = append(objs, t)
	}
	m.box = container.NewWithoutLayout(objs...)
	m.ExtendBaseWidget(m)
	return m
}

func (m *heatMap) MinSize() fyne.Size { return fyne.NewSize(heatLabel+24*heatCell, 8*heatCell+4) }

func (m *heatMap) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(m.box) }

// set colours the cells by counts (indexed by time.Weekday, hour).
func (m *heatMap) set(counts [7][24]int64) {
	m.counts = counts
	var most int64
	for _, d := range counts {
		for _, n := range d {
			most = max(most, n)
		}
	}
	for d := range 7 {
		for h := range 24 {
			m.cells[d][h].FillColor = heatColor(counts[d][h], most)
			m.cells[d][h].Refresh()
		}
	}
}

// heatColor is a cell's colour: clear for none, then from a pale to a deep
// orange as n nears most.
func heatColor(n, most int64) color.NRGBA {
	if n == 0 || most == 0 {
		return color.NRGBA{0x80, 0x80, 0x80, 0x18}
	}
	f := float64(n) / float64(most)
	return color.NRGBA{R: 0xe6, G: uint8(0xd0 - 0x90*f), B: uint8(0x90 - 0x80*f), A: uint8(0x50 + 0xaf*f)}
}
