package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Module is the import path the command names given to Build are under.
const Module = "github.com/carrel-kiosk/carrel"

// Options says how Build compiles. Two Builds with equal Options and the same
// commands in one test process share one compilation.
type Options struct {
	// Race builds with the race detector (and so with cgo). Without it the
	// build is CGO_ENABLED=0.
	Race bool
	// Tags are extra build tags, comma-separated ("xvfbtest").
	Tags string
	// GOOS and GOARCH cross-compile; empty means this machine's.
	GOOS, GOARCH string
	// Release builds as releases are: -trimpath, stripped, main.version
	// "test", and position-independent on Linux.
	Release bool
}

// builds holds every compilation this test process asked for, and the
// directory they are in (removed by Main).
var builds struct {
	mu   sync.Mutex // guards the fields below
	root string
	sets map[string]*buildSet
}

type buildSet struct {
	dir   string // under builds.root, its own for each set
	once  sync.Once
	paths map[string]string
	err   error
}

// Build compiles the commands named (directories under cmd/, such as
// "carrel-hub") once per test process and returns each one's path by name.
// A build error fails t, and every later Build of the same set fails the same
// way without building again.
func Build(t testing.TB, o Options, cmds ...string) map[string]string {
	t.Helper()
	key := fmt.Sprintf("%+v %q", o, cmds)
	builds.mu.Lock()
	if builds.sets == nil {
		builds.sets = map[string]*buildSet{}
	}
	if builds.root == "" {
		root, err := os.MkdirTemp("", "carrel-testbin-")
		if err != nil {
			builds.mu.Unlock()
			t.Fatal(err)
		}
		builds.root = root
	}
	s := builds.sets[key]
	if s == nil {
		s = &buildSet{dir: filepath.Join(builds.root, fmt.Sprint(len(builds.sets)))}
		builds.sets[key] = s
	}
	builds.mu.Unlock()
	s.once.Do(func() { s.paths, s.err = build(s.dir, o, cmds) })
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.paths
}

func build(dir string, o Options, cmds []string) (map[string]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	env := append(os.Environ(), "CGO_ENABLED=0")
	if o.Race {
		args = append(args, "-race")
		env = append(env, "CGO_ENABLED=1")
	}
	if o.Tags != "" {
		args = append(args, "-tags", o.Tags)
	}
	goos := runtime.GOOS
	if o.GOOS != "" {
		goos = o.GOOS
		env = append(env, "GOOS="+o.GOOS)
	}
	if o.GOARCH != "" {
		env = append(env, "GOARCH="+o.GOARCH)
	}
	if o.Release {
		args = append(args, "-trimpath", "-ldflags=-s -w -X main.version=test")
		if goos == "linux" {
			args = append(args, "-buildmode=pie")
		}
	}
	paths := map[string]string{}
	for _, c := range cmds {
		args = append(args, Module+"/cmd/"+c)
		name := c
		if goos == "windows" {
			name += ".exe"
		}
		paths[c] = filepath.Join(dir, name)
	}
	cmd := exec.Command("go", args...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return paths, nil
}

// Main runs the tests and removes what Build compiled; call it from TestMain.
// It does not return.
func Main(m *testing.M) {
	code := m.Run()
	builds.mu.Lock()
	if builds.root != "" {
		os.RemoveAll(builds.root)
	}
	builds.mu.Unlock()
	os.Exit(code)
}
