//go:build windows

package oslog

import (
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/windows/registry"
)

// The source is registered as the MSI registers it (EventCreate.exe's
// messages, the three types), records are reported under it, and removing it
// leaves nothing. Under Wine ReportEvent goes to Wine's own log, not an Event
// Viewer, so this proves the registration and the calls, not what a reader
// of the Event Log sees; that is the self-test's on a real PC.
func TestEventLogSource(t *testing.T) {
	src := fmt.Sprintf("CarrelTest%d", os.Getpid())
	if err := InstallSource(src); err != nil {
		t.Fatalf("install source: %v", err)
	}
	if err := InstallSource(src); err != nil {
		t.Fatalf("a second install of the same source: %v", err)
	}
	key := `SYSTEM\CurrentControlSet\Services\EventLog\Application\` + src
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.QUERY_VALUE)
	if err != nil {
		t.Fatalf("the source's key: %v", err)
	}
	file, _, err := k.GetStringValue("EventMessageFile")
	types, _, err2 := k.GetIntegerValue("TypesSupported")
	k.Close()
	if err != nil || err2 != nil || file != `%SystemRoot%\System32\EventCreate.exe` || types != 7 {
		t.Fatalf("registration: %q %d (%v %v)", file, types, err, err2)
	}
	h, err := NewEventLog(src, slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(h).With("component", "test")
	for _, f := range []func(string, ...any){log.Info, log.Warn, log.Error} {
		f("a record", KeyEventID, 201, "name", "setup.exe")
	}
	if err := h.Handle(t.Context(), slog.NewRecord(time.Now(), slog.LevelWarn, "direct", 0)); err != nil {
		t.Fatalf("report an event: %v", err)
	}
	h.Close()
	if err := RemoveSource(src); err != nil {
		t.Fatal(err)
	}
	if _, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.QUERY_VALUE); err == nil {
		t.Fatal("the source's key is still there after RemoveSource")
	}
	if err := RemoveSource(src); err != nil {
		t.Fatalf("removing a source that is not there: %v", err)
	}
}
