package ui

import (
	"fmt"
	"testing"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// BenchmarkRoomBurst2000 applies a burst of 2,000 terminal status updates, as
// the hub client delivers them, through the bridge to the view model, and
// renders the room (a software capture of the whole window). One op is one
// burst plus one frame.
func BenchmarkRoomBurst2000(b *testing.B) {
	h := newHarness(b, protocol.RoleDesk)
	const n = 2000
	for i := range n {
		h.hub.terminals = append(h.hub.terminals, term(fmt.Sprintf("t%04d", i), fmt.Sprintf("pc-%04d", i), true, protocol.SessionFree, false))
	}
	h.login("ann")
	h.wait("2000 terminals", func() bool { return h.ui.Room().Len() == n })
	states := []struct {
		session protocol.SessionState
		shown   protocol.DisplayState
	}{
		{protocol.SessionInUse, protocol.StateInUse}, {protocol.SessionLocked, protocol.StateLocked},
		{protocol.SessionFree, protocol.StateFree}, {protocol.SessionDirty, protocol.StateDirty},
	}
	pushes := make([][]protocol.StaffPush, len(states))
	for k, s := range states {
		for i := range n {
			t := term(fmt.Sprintf("t%04d", i), fmt.Sprintf("pc-%04d", i), i%50 != 0, s.session, false)
			pushes[k] = append(pushes[k], protocol.StaffPush{Terminal: &t})
		}
	}
	c := h.win.Canvas()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := i % len(states)
		for _, p := range pushes[k] {
			h.ui.bridge.onPush(p)
		}
		want := states[k].shown
		h.wait("the burst applied", func() bool { return h.ui.Room().Count(want) == n-n/50 })
		c.Capture()
	}
}
