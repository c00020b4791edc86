package eventrec

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func TestRecorder(t *testing.T) {
	var r Recorder
	go func() {
		r.Emit(protocol.EventSessionStarted, protocol.SeverityInfo, map[string]string{protocol.DataSession: "1"})
		r.Emit(protocol.EventSessionEnded, protocol.SeverityInfo, nil)
	}()
	e := r.WaitKind(t, 5*time.Second, protocol.EventSessionEnded)
	if e.Kind != protocol.EventSessionEnded {
		t.Fatalf("got %v", e)
	}
	if got := r.Kinds(); len(got) != 2 || got[0] != protocol.EventSessionStarted {
		t.Fatalf("kinds = %v", got)
	}
	if r.Count(protocol.EventSessionStarted) != 1 || !r.Has(protocol.EventSessionEnded) || r.Has(protocol.EventWipeDone) {
		t.Fatalf("counts wrong: %s", r.String())
	}
	if r.Last().Kind != protocol.EventSessionEnded {
		t.Fatalf("last = %v", r.Last())
	}
}

func TestRecorderRefusesWhatTheWireRefuses(t *testing.T) {
	var r Recorder
	if err := r.Emit("", protocol.SeverityInfo, nil); err == nil {
		t.Fatal("empty kind accepted")
	}
	if err := r.Emit(protocol.EventWipeDone, "loud", nil); err == nil {
		t.Fatal("unknown severity accepted")
	}
	big := map[string]string{"k": strings.Repeat("x", protocol.MaxText+1)}
	if err := r.Emit(protocol.EventWipeDone, protocol.SeverityInfo, big); err == nil {
		t.Fatal("oversized value accepted")
	}
	boom := errors.New("outbox full")
	r.Fail(boom)
	if err := r.Emit(protocol.EventWipeDone, protocol.SeverityInfo, nil); !errors.Is(err, boom) {
		t.Fatalf("after Fail: %v", err)
	}
	if len(r.All()) != 0 {
		t.Fatalf("refused events were recorded: %s", r.String())
	}
	if got := r.Refused(); len(got) != 3 {
		t.Fatalf("Refused() = %v, want the 3 contract refusals and not Fail's", got)
	}
}

func TestCheckContractFailsAtTheEnd(t *testing.T) {
	ft := &cleanupTB{TB: t}
	var r Recorder
	r.CheckContract(ft)
	r.Emit(protocol.EventWipeDone, protocol.SeverityInfo, nil)
	ft.cleanup()
	if ft.errors != 0 {
		t.Fatalf("a valid event failed the test")
	}
	r.Emit("", protocol.SeverityInfo, nil)
	ft.cleanup()
	if ft.errors != 1 {
		t.Fatalf("%d errors for one refused event, want 1", ft.errors)
	}
}

func TestEventAt(t *testing.T) {
	var r Recorder
	before := time.Now()
	r.Emit(protocol.EventWipeDone, protocol.SeverityInfo, nil)
	if at := r.Last().At; at.Before(before) || at.After(time.Now()) {
		t.Fatalf("At = %v, not between the call's start and end", at)
	}
}

// cleanupTB runs the registered cleanups when the test says so and counts Errorf.
type cleanupTB struct {
	testing.TB
	fns    []func()
	errors int
}

func (c *cleanupTB) Helper()               {}
func (c *cleanupTB) Cleanup(f func())      { c.fns = append(c.fns, f) }
func (c *cleanupTB) Errorf(string, ...any) { c.errors++ }
func (c *cleanupTB) cleanup() {
	for _, f := range c.fns {
		f()
	}
}

func TestWaitFailsAtDeadline(t *testing.T) {
	var r Recorder
	ft := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { recover() }()
		r.WaitKind(ft, 20*time.Millisecond, protocol.EventWipeDone)
	}()
	<-done
	if !ft.failed {
		t.Fatal("Wait returned without an event and without failing")
	}
}

type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}
