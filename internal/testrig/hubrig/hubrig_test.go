package hubrig

import (
	"context"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// A terminal enrolls, is online with the status it was given, goes offline and
// comes back, and its events reach the hub's store.
func TestTerminalLifecycle(t *testing.T) {
	r := Start(t, Options{})
	x := r.AddTerminal(t, "pc-01", protocol.Status{Session: protocol.SessionInUse})
	st, err := r.Hub().Store().Terminal(context.Background(), x.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "pc-01" || !st.Online {
		t.Fatalf("stored terminal %+v, want pc-01 online", st)
	}
	if got := x.Status(); got.Hostname != "pc-01" || got.Session != protocol.SessionInUse || got.OS == "" || got.AgentVersion == "" {
		t.Fatalf("status %+v", got)
	}
	x.Disconnect(t)
	x.Connect(t)
	id1 := r.EventID(t, x.ID, x.Emit(t, protocol.EventSessionStarted, protocol.SeverityInfo, nil))
	id2 := r.EventID(t, x.ID, x.Emit(t, protocol.EventSessionEnded, protocol.SeverityInfo, nil))
	if id1 <= 0 || id2 <= id1 {
		t.Fatalf("event IDs %d, %d", id1, id2)
	}
	if x.Commands() != nil {
		t.Fatalf("commands %v before any was sent", x.Commands())
	}
	r.Stop()
	r.Stop() // idempotent
}

// Code never hands out a TOTP step twice: the current one, then the next.
func TestCodeSteps(t *testing.T) {
	a := &Account{Secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"}
	now := time.Now().Unix() / 30
	a.Code(t)
	first := a.last
	a.Code(t)
	if first < now || a.last != first+1 {
		t.Fatalf("steps %d then %d (now %d), want now and now+1", first, a.last, now)
	}
}
