package ui

import (
	"context"
	"sync"
	"time"

	"fyne.io/fyne/v2"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Bridge carries what happens off the UI goroutine (hub pushes, link changes,
// answers to background requests, the clock) onto it. It is the only caller of
// fyne.Do. Pushes are coalesced: a burst of terminal updates becomes one pass
// over the view model and one refresh of the room, however many arrive.
type Bridge struct {
	u  *UI
	do func(func())

	mu        sync.Mutex // protects the fields below
	terminals map[string]protocol.TerminalView
	order     []string // terminal IDs in arrival order
	events    []protocol.EventView
	link      *linkChange
	scheduled bool
	unsub     func()
	stopTick  chan struct{}
	applied   uint64 // flushes applied, for tests
}

type linkChange struct {
	up  bool
	err error
}

func newBridge(u *UI, do func(func())) *Bridge {
	if do == nil {
		do = fyne.Do
	}
	return &Bridge{u: u, do: do, terminals: map[string]protocol.TerminalView{}}
}

// Do runs f on the UI goroutine.
func (b *Bridge) Do(f func()) { b.do(f) }

// start subscribes to the hub's pushes and starts the clock. Called on the UI
// goroutine once the main screen exists.
func (b *Bridge) start() {
	b.stop()
	unsub := b.u.client.Subscribe(b.onPush, b.onLink)
	b.mu.Lock()
	b.unsub = unsub
	if b.u.opts.Tick > 0 {
		b.stopTick = make(chan struct{})
		go b.tick(b.u.opts.Tick, b.stopTick)
	}
	b.mu.Unlock()
}

// stop ends the subscription and the clock.
func (b *Bridge) stop() {
	b.mu.Lock()
	unsub, st := b.unsub, b.stopTick
	b.unsub, b.stopTick = nil, nil
	b.mu.Unlock()
	if unsub != nil {
		unsub()
	}
	if st != nil {
		close(st)
	}
}

func (b *Bridge) tick(d time.Duration, stop chan struct{}) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			b.do(b.u.refreshTimes)
		}
	}
}

func (b *Bridge) onPush(p protocol.StaffPush) {
	b.mu.Lock()
	if p.Terminal != nil {
		if _, ok := b.terminals[p.Terminal.ID]; !ok {
			b.order = append(b.order, p.Terminal.ID)
		}
		b.terminals[p.Terminal.ID] = *p.Terminal
	}
	if p.Event != nil {
		b.events = append(b.events, *p.Event)
	}
	b.schedule()
}

func (b *Bridge) onLink(up bool, err error) {
	b.mu.Lock()
	b.link = &linkChange{up: up, err: err}
	b.schedule()
}

// schedule asks for one flush on the UI goroutine unless one is pending. It is
// called with b.mu held and releases it (do may run flush at once).
func (b *Bridge) schedule() {
	need := !b.scheduled
	b.scheduled = true
	b.mu.Unlock()
	if need {
		b.do(b.flush)
	}
}

// flush applies everything queued since the last flush; on the UI goroutine.
func (b *Bridge) flush() {
	b.mu.Lock()
	terms := make([]protocol.TerminalView, 0, len(b.order))
	for _, id := range b.order {
		terms = append(terms, b.terminals[id])
	}
	clear(b.terminals)
	b.order = b.order[:0]
	events := b.events
	b.events = nil
	link := b.link
	b.link = nil
	b.scheduled = false
	b.applied++
	b.mu.Unlock()
	b.u.apply(terms, events, link)
}

// Flushes counts the batches applied on the UI goroutine.
func (b *Bridge) Flushes() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.applied
}

// reload fetches the whole room and recent events after login or a reconnect.
func (b *Bridge) reload() {
	b.u.async(func(ctx context.Context) func() {
		terms, err := b.u.client.Terminals(ctx)
		evs, eerr := b.u.client.Events(ctx, protocol.EventsArgs{Limit: 200})
		return func() {
			if err != nil {
				b.u.setLink("Could not load terminals: " + errText(err))
				return
			}
			b.u.setLink("Connected to the hub")
			b.u.replaceRoom(terms)
			if eerr == nil {
				b.u.addEvents(evs, false)
			}
		}
	})
}
