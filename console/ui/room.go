package ui

import (
	"fmt"
	"image/color"
	"strconv"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// stateColors are the tile colours per display state; white text reads on all.
// TestStateColors checks that every protocol.DisplayStates entry has one.
var stateColors = map[protocol.DisplayState]color.NRGBA{
	protocol.StateFree:    {0x2E, 0x7D, 0x32, 0xFF},
	protocol.StateInUse:   {0x15, 0x65, 0xC0, 0xFF},
	protocol.StateLocked:  {0xE6, 0x5C, 0x00, 0xFF},
	protocol.StateWiping:  {0x6A, 0x1B, 0x9A, 0xFF},
	protocol.StateDirty:   {0xC6, 0x28, 0x28, 0xFF},
	protocol.StateOffline: {0x61, 0x61, 0x61, 0xFF},
	protocol.StateRevoked: {0x26, 0x32, 0x38, 0xFF},
	protocol.StateUnknown: {0x78, 0x90, 0x9C, 0xFF},
}

// filterAll is the filter choice that shows every display state.
const filterAll = "all"

var (
	tileText  = color.NRGBA{0xFF, 0xFF, 0xFF, 0xFF}
	tileFaint = color.NRGBA{0xFF, 0xFF, 0xFF, 0xD0}
	tileRing  = color.NRGBA{0xFF, 0xD5, 0x4F, 0xFF}
	tileSize  = fyne.NewSize(168, 74)
)

// roomView is the room: a header of counts per state, a filter and a search,
// a virtualised grid of tiles (widget.GridWrap: only the visible tiles exist),
// and the detail of the selected terminal beside it.
type roomView struct {
	u        *UI
	model    *RoomModel
	counts   map[protocol.DisplayState]*canvas.Text
	total    *widget.Label
	filter   *widget.Select
	search   *widget.Entry
	grid     *widget.GridWrap
	detail   *detailView
	selected string // terminal ID whose detail is open
	content  fyne.CanvasObject
}

func newRoomView(u *UI) *roomView {
	r := &roomView{u: u, model: NewRoomModel(), counts: map[protocol.DisplayState]*canvas.Text{}}
	chips := []fyne.CanvasObject{}
	choices := []string{filterAll}
	for _, s := range protocol.DisplayStates {
		choices = append(choices, s.String())
		txt := canvas.NewText(countText(s, 0), tileText)
		txt.TextStyle = fyne.TextStyle{Bold: true}
		r.counts[s] = txt
		bg := canvas.NewRectangle(stateColors[s])
		bg.CornerRadius = 4
		state := s
		chip := newTapBox(container.NewStack(bg, container.NewPadded(txt)), func() { r.filter.SetSelected(state.String()) })
		chips = append(chips, chip)
	}
	choices = append(choices, filterNotProven)
	r.total = widget.NewLabel("0 terminals")
	r.filter = widget.NewSelect(choices, func(s string) {
		r.model.SetNotProven(s == filterNotProven)
		if s == filterAll || s == filterNotProven {
			s = ""
		}
		r.model.SetFilter(protocol.DisplayState(s))
		r.refresh()
	})
	r.filter.SetSelected(filterAll)
	r.search = widget.NewEntry()
	r.search.SetPlaceHolder("Search by name")
	r.search.OnChanged = func(s string) {
		r.model.SetSearch(s)
		r.refresh()
	}
	r.grid = widget.NewGridWrap(
		func() int { return len(r.model.Visible()) },
		newTile,
		func(i widget.GridWrapItemID, o fyne.CanvasObject) {
			vis := r.model.Visible()
			if i < 0 || i >= len(vis) {
				return
			}
			t, _ := r.model.Get(vis[i])
			o.(*tile).set(t, vis[i] == r.selected, r.model.Unread(vis[i]), u.opts.Now())
		})
	r.grid.OnSelected = func(i widget.GridWrapItemID) {
		vis := r.model.Visible()
		r.grid.UnselectAll()
		if i >= 0 && i < len(vis) {
			r.open(vis[i])
		}
	}
	r.detail = newDetailView(u)
	header := container.NewBorder(nil, nil, nil, r.total, container.NewHBox(chips...))
	tools := container.NewBorder(nil, nil, container.NewHBox(widget.NewLabel("Show"), r.filter), nil, r.search)
	split := container.NewHSplit(r.grid, r.detail.content)
	split.Offset = 0.62
	r.content = container.NewBorder(container.NewVBox(header, tools), nil, nil, nil, split)
	return r
}

// open shows a terminal's detail; its alerts count as read.
func (r *roomView) open(id string) {
	r.selected = id
	r.model.Read(id)
	r.detail.show(id)
	r.grid.Refresh()
	r.u.state("detail:" + id)
}

// refresh redraws counts, the grid and the open detail from the model.
func (r *roomView) refresh() {
	if r.grid == nil || r.detail == nil {
		return // still being built
	}
	for _, s := range protocol.DisplayStates {
		r.counts[s].Text = countText(s, r.model.Count(s))
		r.counts[s].Refresh()
	}
	r.total.SetText(fmt.Sprintf("%d of %d terminals", len(r.model.Visible()), r.model.Len()))
	r.grid.Refresh()
	if r.selected != "" {
		r.detail.show(r.selected)
	}
}

// countText is a header chip's text, e.g. "free 12".
func countText(s protocol.DisplayState, n int) string { return s.String() + " " + strconv.Itoa(n) }

func (r *roomView) refreshTimes() {
	r.grid.Refresh()
	if r.selected != "" {
		r.detail.show(r.selected)
	}
}

// detailEvents passes new events to the open detail.
func (r *roomView) detailEvents(evs []protocol.EventView) {
	if r.selected == "" {
		return
	}
	for _, e := range evs {
		if e.Terminal == r.selected {
			r.detail.show(r.selected)
			return
		}
	}
}

// tile is one terminal: name, state and time in state on the state's colour.
// Its texts are canvas.Text: plain, never parsed.
// The name is a widget.Label (truncated with an ellipsis on screen, its text
// left whole) in white through a theme override.
type tile struct {
	widget.BaseWidget
	bg          *canvas.Rectangle
	name        *widget.Label
	state, time *canvas.Text
	badge       *fyne.Container // unread alerts: a yellow disc with their count
	badgeText   *canvas.Text
	cert        *fyne.Container // the agent certificate is near or past its end (certWarning)
	certText    *canvas.Text
}

func newTile() fyne.CanvasObject {
	t := &tile{
		bg:    canvas.NewRectangle(stateColors[protocol.StateUnknown]),
		name:  widget.NewLabel(""),
		state: canvas.NewText("", tileFaint),
		time:  canvas.NewText("", tileFaint),
	}
	t.bg.CornerRadius = 6
	t.bg.SetMinSize(tileSize)
	t.name.TextStyle = fyne.TextStyle{Bold: true}
	t.name.Truncation = fyne.TextTruncateEllipsis
	t.time.Alignment = fyne.TextAlignTrailing
	t.badgeText = canvas.NewText("", badgeInk)
	t.badgeText.TextStyle = fyne.TextStyle{Bold: true}
	t.badgeText.Alignment = fyne.TextAlignCenter
	disc := canvas.NewCircle(badgeYellow)
	disc.StrokeColor, disc.StrokeWidth = tileText, 1.5
	t.badge = container.NewGridWrap(fyne.NewSize(24, 24), container.NewStack(disc, container.NewCenter(t.badgeText)))
	t.badge.Hide()
	t.certText = canvas.NewText("", badgeInk)
	t.certText.TextStyle = fyne.TextStyle{Bold: true}
	t.certText.TextSize = theme.CaptionTextSize()
	t.certText.Alignment = fyne.TextAlignCenter
	certBg := canvas.NewRectangle(certOrange)
	certBg.CornerRadius = 4
	certBg.StrokeColor, certBg.StrokeWidth = tileText, 1.5
	t.cert = container.NewStack(certBg, container.NewPadded(t.certText))
	t.cert.Hide()
	t.ExtendBaseWidget(t)
	return t
}

var (
	badgeYellow = color.NRGBA{0xFF, 0xD5, 0x4F, 0xFF}
	badgeInk    = color.NRGBA{0x21, 0x21, 0x21, 0xFF}
	certOrange  = color.NRGBA{0xFF, 0x98, 0x3F, 0xFF}
)

func (t *tile) CreateRenderer() fyne.WidgetRenderer {
	// A grid, not an HBox: each text gets half the width whatever its length
	// was at the last layout.
	line := container.NewGridWithColumns(2, t.state, t.time)
	return widget.NewSimpleRenderer(container.NewStack(t.bg,
		container.NewBorder(container.NewBorder(nil, nil, nil, container.NewCenter(container.NewHBox(t.cert, t.badge)), container.NewThemeOverride(t.name, whiteText{})), nil, nil, nil,
			container.NewPadded(line))))
}

// whiteText is the current theme with white foreground text (tile names).
type whiteText struct{}

func (whiteText) Color(n fyne.ThemeColorName, v fyne.ThemeVariant) color.Color {
	if n == theme.ColorNameForeground {
		return tileText
	}
	return fyne.CurrentApp().Settings().Theme().Color(n, v)
}
func (whiteText) Font(s fyne.TextStyle) fyne.Resource {
	return fyne.CurrentApp().Settings().Theme().Font(s)
}
func (whiteText) Icon(n fyne.ThemeIconName) fyne.Resource {
	return fyne.CurrentApp().Settings().Theme().Icon(n)
}
func (whiteText) Size(n fyne.ThemeSizeName) float32 {
	return fyne.CurrentApp().Settings().Theme().Size(n)
}

func (t *tile) set(v protocol.TerminalView, selected bool, unread int, now time.Time) {
	s := displayState(v)
	name := terminalLabel(v)
	t.bg.FillColor = stateColors[s]
	if selected {
		t.bg.StrokeColor, t.bg.StrokeWidth = tileRing, 3
	} else {
		t.bg.StrokeWidth = 0
	}
	t.name.SetText(name)
	if unread > 0 {
		t.badgeText.Text = strconv.Itoa(min(unread, 99))
		t.badgeText.Refresh()
		t.badge.Show()
	} else {
		t.badge.Hide()
	}
	if short, _ := certWarning(v, now); short != "" {
		t.certText.Text = short
		t.certText.Refresh()
		t.cert.Show()
	} else {
		t.cert.Hide()
	}
	t.state.Text = s.String()
	t.time.Text = sinceText(v, now)
	if p := patronTileText(patronOf(v), now); p != "" {
		t.time.Text = p // a patron session: time left and guest or card (patron.go)
	}
	t.bg.Refresh()
	t.state.Refresh()
	t.time.Refresh()
}

// sinceText is how long the terminal has been in its state, e.g. "for 12m".
func sinceText(v protocol.TerminalView, now time.Time) string {
	since := v.Since
	if since.IsZero() && v.Status != nil {
		since = v.Status.SessionSince
	}
	if since.IsZero() {
		return ""
	}
	return "for " + shortDuration(now.Sub(since))
}

func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "<1m"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// tapBox makes any object tappable (the count chips filter the room).
type tapBox struct {
	widget.BaseWidget
	obj   fyne.CanvasObject
	onTap func()
}

func newTapBox(obj fyne.CanvasObject, onTap func()) *tapBox {
	b := &tapBox{obj: obj, onTap: onTap}
	b.ExtendBaseWidget(b)
	return b
}

func (b *tapBox) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(b.obj) }
func (b *tapBox) Tapped(*fyne.PointEvent)             { b.onTap() }
