package winetest

import (
	"os"
	"testing"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// Desktop prepares a test that shows windows: it is skipped under Wine without
// an X display (.ci/wine/gotest.sh starts Xvfb), it holds the desktop lock
// until it ends, and under Wine it starts Wine's desktop process itself and
// turns off Wine's window-manager waits.
func Desktop(t *testing.T) {
	t.Helper()
	if Under() && os.Getenv("DISPLAY") == "" {
		t.Skip("no DISPLAY: Wine needs an X display for windows (.ci/wine/gotest.sh starts Xvfb)")
	}
	desktopLock(t)
	if !Under() {
		return
	}
	// Wine starts its desktop process (explorer.exe) for the first program
	// that needs it, and that process inherits the program's handles: were
	// it a helper, its pipes would stay open after it died. Start it here.
	windows.GetDesktopWindow()
	// Xvfb has no window manager, and Wine (8.0) waits 2 s for one whenever a
	// full-screen window it hands to the window manager is hidden. Programs
	// started from now on leave their windows to Wine alone.
	k, _, err := registry.CreateKey(registry.CURRENT_USER, `Software\Wine\X11 Driver`, registry.QUERY_VALUE|registry.SET_VALUE)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	old, _, oldErr := k.GetStringValue("Managed")
	if err := k.SetStringValue("Managed", "N"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		k, err := registry.OpenKey(registry.CURRENT_USER, `Software\Wine\X11 Driver`, registry.SET_VALUE)
		if err != nil {
			return
		}
		defer k.Close()
		if oldErr == nil {
			_ = k.SetStringValue("Managed", old)
		} else {
			_ = k.DeleteValue("Managed")
		}
	})
}

// desktopLock keeps other test binaries' windows off the desktop until the
// test ends (go test runs agent/overlay's and agent/session's at once, and
// topmost windows, keyboard hooks and synthetic input are desktop-wide). The
// lock is a file's, released when its handle closes, even by a crash.
func desktopLock(t *testing.T) {
	t.Helper()
	name, _ := windows.UTF16PtrFromString(os.TempDir() + `\carrel-desktop-test.lock`)
	h, err := windows.CreateFile(name, windows.GENERIC_READ|windows.GENERIC_WRITE, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE,
		nil, windows.OPEN_ALWAYS, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		t.Fatalf("desktop lock: %v", err)
	}
	if err := windows.LockFileEx(h, windows.LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, new(windows.Overlapped)); err != nil {
		windows.CloseHandle(h)
		t.Fatalf("desktop lock: %v", err)
	}
	t.Cleanup(func() { windows.CloseHandle(h) })
}
