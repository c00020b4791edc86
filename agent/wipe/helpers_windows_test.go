//go:build windows

package wipe

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// helperEnv makes the test binary a helper process (see TestMain):
//
//	block: reads stdin until it closes, then exits
//	spawn: starts a "block" child on the same stdin, prints "ready PID" (the
//	child's pid), then blocks like "block"
//
// Helpers exit when the test closes their stdin, so nothing outlives a test that
// failed before the killer ran.
const helperEnv = "CARREL_WIPE_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "spawn":
		c := exec.Command(os.Args[0])
		c.Env = append(os.Environ(), helperEnv+"=block")
		c.Stdin = os.Stdin
		if err := c.Start(); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("ready", c.Process.Pid)
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	default:
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
}

// underWine reports whether the test runs under Wine (ntdll exports
// wine_get_version there).
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// currentUser is the test's own account: its SID and, when the SID is a local
// account of this computer, its RID (under Wine: S-1-5-21-0-0-0-1000, 1000).
func currentUser(t *testing.T) (sid *windows.SID, rid int, name string) {
	t.Helper()
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	sid, err = tu.User.Sid.Copy()
	if err != nil {
		t.Fatal(err)
	}
	dom, _, err := accountDomain()
	if err != nil {
		t.Fatalf("accountDomain: %v", err)
	}
	rid, ok := ridIn(sid, dom)
	if !ok {
		t.Skipf("the test's account %s is not a local account of this computer (%s)", sid, dom)
	}
	name, _, _, err = sid.LookupAccount("")
	if err != nil {
		t.Fatal(err)
	}
	return sid, rid, name
}

// ownerOf reads a path's owner without following a final reparse point.
func ownerOf(t *testing.T, p string) *windows.SID {
	t.Helper()
	h, err := openNoFollow(p, windows.READ_CONTROL)
	if err != nil {
		t.Fatal(err)
	}
	defer windows.CloseHandle(h)
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		t.Fatalf("owner of %s: %v", p, err)
	}
	o, _, err := sd.Owner()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func openNoFollow(p string, access uint32) (windows.Handle, error) {
	p16, err := windows.UTF16PtrFromString(p)
	if err != nil {
		return 0, err
	}
	return windows.CreateFile(p16, access, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
}

// giveToOther makes paths owned by an account other than the test's own, or
// skips the test. Under Wine a file's owner is derived from its Unix owner
// (the current Unix user is the Wine user, any other uid reads as S-1-5-7) and
// SetSecurityInfo leaves it unchanged, so the test chowns through a Unix
// process Wine starts; on Windows it sets BUILTIN\Administrators as owner
// (an elevated test can).
func giveToOther(t *testing.T, me *windows.SID, paths ...string) {
	t.Helper()
	if underWine() {
		var unix []string
		for _, p := range paths {
			unix = append(unix, wineUnixPath(t, p))
		}
		// back to the Wine user before the temp dir is removed (cleanups run
		// last-in first-out), or Wine refuses to open them
		ref := "--reference=" + wineUnixPath(t, os.TempDir())
		t.Cleanup(func() { runUnix(t, append([]string{"chown", "--no-dereference", ref}, unix...)...) })
		runUnix(t, append([]string{"chown", "--no-dereference", "64200"}, unix...)...)
	} else {
		admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
		if err != nil {
			t.Fatal(err)
		}
		if err := enablePrivilege("SeRestorePrivilege"); err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			h, err := openNoFollow(p, windows.WRITE_OWNER|windows.READ_CONTROL)
			if err == nil {
				err = windows.SetSecurityInfo(h, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION, admins, nil, nil, nil)
				windows.CloseHandle(h)
			}
			if err != nil {
				t.Skipf("cannot make %s owned by another account here (run the test elevated): %v", p, err)
			}
		}
	}
	for _, p := range paths {
		if o := ownerOf(t, p); o.Equals(me) {
			t.Skipf("%s is still owned by the test's account after the owner change; owner-selective clearing cannot be shown here", p)
		}
	}
}

// wineUnixPath is the Unix path of a Windows path (kernel32's Wine-only
// wine_get_unix_file_name).
func wineUnixPath(t *testing.T, p string) string {
	t.Helper()
	proc := windows.NewLazySystemDLL("kernel32.dll").NewProc("wine_get_unix_file_name")
	if err := proc.Find(); err != nil {
		t.Fatal(err)
	}
	p16, err := windows.UTF16PtrFromString(p)
	if err != nil {
		t.Fatal(err)
	}
	r, _, _ := proc.Call(uintptr(unsafe.Pointer(p16)))
	if r == 0 {
		t.Fatalf("no Unix path for %s", p)
	}
	// r is a pointer into Wine's process heap, not Go memory
	return windows.BytePtrToString(*(**byte)(unsafe.Pointer(&r)))
}

var unixMu sync.Mutex

// runUnix runs a Unix command from inside Wine (Wine starts ELF binaries). Wine
// gives a Unix child no process handle to wait on, nor the test's pipes, so the
// command reports its exit status over loopback TCP (bash's /dev/tcp), which
// the test waits for.
func runUnix(t *testing.T, args ...string) {
	t.Helper()
	unixMu.Lock()
	defer unixMu.Unlock()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	script := `"$@" >/dev/null 2>&1; echo "exit $?" >/dev/tcp/127.0.0.1/` + strconv.Itoa(port)
	argv := append([]string{"bash", "-c", script, "bash"}, args...)
	if _, err := os.StartProcess(`Z:\bin\bash`, argv, &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}}); err != nil {
		t.Skipf("cannot start a Unix process from Wine: %v", err)
	}
	if err := ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("%v did not report back: %v", args, err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != "exit 0" {
		t.Fatalf("%v: %s", args, got)
	}
}

// helperProc is a helper process the test started.
type helperProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	child int // "spawn": the pid of its own child
}

// startHelpers starts n helpers of kind ("block" or "spawn") in dir (or the
// test's cwd), and waits until each spawn helper's child is running. Cleanup
// closes their stdin, which ends any that are still there.
func startHelpers(t *testing.T, kind, dir string, n int) []*helperProc {
	t.Helper()
	var hs []*helperProc
	for range n {
		c := exec.Command(os.Args[0])
		c.Env = append(os.Environ(), helperEnv+"="+kind)
		c.Dir = dir
		in, err := c.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		h := &helperProc{cmd: c, stdin: in}
		t.Cleanup(func() { in.Close(); c.Wait() })
		hs = append(hs, h)
		if kind == "spawn" {
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				t.Fatalf("spawn helper: %v", err)
			}
			f := strings.Fields(line)
			if len(f) != 2 || f[0] != "ready" {
				t.Fatalf("spawn helper said %q", line)
			}
			if h.child, err = strconv.Atoi(f[1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	return hs
}

// alive reports whether pid is a running process.
func alive(pid int) bool {
	h, err := windows.OpenProcess(windows.SYNCHRONIZE|windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return false
	}
	defer windows.CloseHandle(h)
	ev, _ := windows.WaitForSingleObject(h, 0)
	return ev == uint32(windows.WAIT_TIMEOUT)
}

// winUsers is a user database with fixed accounts.
type winUsers struct{ accts []Account }

func (u winUsers) Lookup(name string) (Account, error) {
	for _, a := range u.accts {
		if a.Name == name {
			return a, nil
		}
	}
	return Account{}, fmt.Errorf("no account %q", name)
}

func (u winUsers) LookupUID(uid int) (Account, error) {
	for _, a := range u.accts {
		if a.UID == uid {
			return a, nil
		}
	}
	return Account{}, fmt.Errorf("no account with uid %d", uid)
}

// memGate records holds in memory.
type memGate struct {
	mu   sync.Mutex
	held map[string]bool
}

func (g *memGate) Hold(_ context.Context, user string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held == nil {
		g.held = map[string]bool{}
	}
	g.held[user] = true
	return nil
}

func (g *memGate) Release(_ context.Context, user string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.held, user)
	return nil
}

func (g *memGate) isHeld(user string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held[user]
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
