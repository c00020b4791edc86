//go:build linux

package installer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shimSource is bcryptprimitives.dll for Wine 8: Go >= 1.24 Windows binaries
// import ProcessPrng from it, which Wine 8 lacks. It forwards to RtlGenRandom
// (advapi32 SystemFunction036).
const shimSource = `#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, n)) return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
BOOL WINAPI DllMain(HINSTANCE h, DWORD reason, LPVOID reserved) { return TRUE; }
`

// winePrefix is a throwaway Wine prefix with a persistent wineserver.
type winePrefix struct {
	dir string
	env []string
}

// newWinePrefix creates a prefix under a temp dir, installs the shim, and
// starts its wineserver; all of it goes when t ends.
func newWinePrefix(t *testing.T) *winePrefix {
	t.Helper()
	needTool(t, "wine", "wine wine64")
	needTool(t, "wineserver", "wine")
	needTool(t, "x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64-win32")
	root, err := os.MkdirTemp("", "carrel-wine-")
	if err != nil {
		t.Fatal(err)
	}
	w := &winePrefix{dir: filepath.Join(root, "prefix")}
	w.env = append(os.Environ(), "WINEPREFIX="+w.dir, "WINEDEBUG=-all", "WINEARCH=win64",
		"WINEDLLOVERRIDES=mscoree,mshtml=;winemenubuilder.exe=d")
	t.Cleanup(func() {
		// Ends this prefix's wineserver and every Wine process in it (the
		// service included), then removes the prefix from the Linux side.
		if t.Failed() {
			out, _ := w.run(time.Minute, "wine", "sc", "query", "carrel-agent")
			t.Logf("--- sc query carrel-agent:\n%s", out)
		}
		w.run(30*time.Second, "wineserver", "-k")
		w.run(30*time.Second, "wineserver", "-w")
		os.RemoveAll(root)
	})
	src := filepath.Join(root, "shim.c")
	dll := filepath.Join(root, "bcryptprimitives.dll")
	if err := os.WriteFile(src, []byte(shimSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("x86_64-w64-mingw32-gcc", "-O2", "-shared", "-s", "-o", dll, src, "-ladvapi32").CombinedOutput(); err != nil {
		t.Fatalf("build shim: %v\n%s", err, out)
	}
	// The wineserver first, persistent, so that it keeps the services running
	// between commands and is not a child of any command below.
	if err := os.MkdirAll(w.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	w.mustRun(t, time.Minute, "wineserver", "-p")
	w.mustRun(t, 2*time.Minute, "wineboot", "--init")
	sys32 := filepath.Join(w.dir, "drive_c", "windows", "system32")
	if err := copyFile(dll, filepath.Join(sys32, "bcryptprimitives.dll"), 0o644); err != nil {
		t.Fatalf("install shim: %v", err)
	}
	// Restart the prefix once: services.exe started during wineboot --init
	// sometimes cannot start a new service within its timeout (StartServices
	// fails, msiexec rolls back with 91); after a restart it can.
	w.mustRun(t, time.Minute, "wineserver", "-k")
	w.mustRun(t, time.Minute, "wineserver", "-w")
	w.mustRun(t, time.Minute, "wineserver", "-p")
	w.mustRun(t, time.Minute, "wine", "cmd", "/c", "exit")
	return w
}

// run runs a command with the prefix's environment and returns its output.
// The output goes through a file, not a pipe: Wine processes that outlive the
// command (wineserver, services.exe, the service itself) inherit its
// descriptors, and a pipe would then never reach EOF.
func (w *winePrefix) run(d time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	f, err := os.CreateTemp("", "carrel-wine-out-")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = w.env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	out, rerr := os.ReadFile(f.Name())
	if err == nil {
		err = rerr
	}
	return strings.ReplaceAll(string(out), "\r\n", "\n"), err
}

func (w *winePrefix) mustRun(t *testing.T, d time.Duration, args ...string) string {
	t.Helper()
	out, err := w.run(d, args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// winPath is the Z: drive path of a Linux path.
func winPath(p string) string { return `Z:` + strings.ReplaceAll(p, "/", `\`) }

// path is the Linux path of a C: drive path inside the prefix.
func (w *winePrefix) path(win string) string {
	rel := strings.ReplaceAll(strings.TrimPrefix(win, `C:\`), `\`, "/")
	return filepath.Join(w.dir, "drive_c", rel)
}

// serviceState is the STATE word of `sc query NAME`, or "" when there is no
// such service.
func (w *winePrefix) serviceState(name string) string {
	out, err := w.run(time.Minute, "wine", "sc", "query", name)
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 4 && f[0] == "STATE" {
			return f[3]
		}
	}
	return ""
}

// regValues returns the REG_SZ values of an HKLM key, or nil when it does not exist.
func (w *winePrefix) regValues(key string) map[string]string {
	out, err := w.run(time.Minute, "wine", "reg", "query", key)
	if err != nil {
		return nil
	}
	vals := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), "    REG_SZ    ")
		if ok {
			vals[name] = rest
		} else if name, _, ok := strings.Cut(strings.TrimSpace(l), "    REG_SZ"); ok {
			vals[name] = ""
		}
	}
	return vals
}
