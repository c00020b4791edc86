// Package xvfb starts a private X server for tests: Xvfb picks a free display
// number itself (-displayfd), listens on no TCP port, and is killed when the
// test ends. For tests only.
package xvfb

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Start runs Xvfb with one screen of the given geometry ("1024x768x24") and
// the extra arguments (e.g. "-ac"), and returns its display (":N"). The test is
// skipped when Xvfb is not installed.
func Start(t testing.TB, screen string, extra ...string) string {
	t.Helper()
	bin, err := exec.LookPath("Xvfb")
	if err != nil {
		t.Skip("Xvfb is not installed (apt-get install xvfb; .ci/deps installs it)")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-displayfd", "3", "-screen", "0", screen, "-nolisten", "tcp"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		r.Close()
		got <- strings.TrimSpace(line)
	}()
	var num string
	select {
	case num = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("Xvfb did not say its display number within 20 s")
	}
	if _, err := strconv.Atoi(num); err != nil {
		t.Fatalf("Xvfb said display %q", num)
	}
	return ":" + num
}
