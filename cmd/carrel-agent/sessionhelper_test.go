package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/agent/overlay"
)

// helperCmd runs the real `carrel-agent session-helper` with only DISPLAY set,
// as the service does.
func helperCmd(bin, display string) *exec.Cmd {
	cmd := exec.Command(bin, overlay.HelperArg)
	cmd.Env = []string{"DISPLAY=" + display}
	return cmd
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestSessionHelperCommand(t *testing.T) {
	bin := buildAgent(t)

	// stdin already closed (the service is gone): it exits at once, cleanly,
	// without touching a display.
	cmd := helperCmd(bin, ":59999")
	cmd.Stdin = strings.NewReader("")
	if out, err := cmd.CombinedOutput(); exitCode(err) != 0 {
		t.Errorf("session-helper with empty stdin: %v %s", err, out)
	}
	// Nothing to show: exits 0.
	cmd = helperCmd(bin, ":59999")
	cmd.Stdin = strings.NewReader("{}\n")
	if out, err := cmd.CombinedOutput(); exitCode(err) != 0 {
		t.Errorf("session-helper with an empty state: %v %s", err, out)
	}
	// Something to show but no X server: exit 1, and says why (Linux: the
	// helper draws through X; Windows draws on its own desktop, macOS has none).
	if runtime.GOOS == "linux" {
		cmd = helperCmd(bin, ":59999")
		cmd.Stdin = strings.NewReader(`{"lock":true,"seq":1}` + "\n")
		out, err := cmd.CombinedOutput()
		if exitCode(err) != 1 || !bytes.Contains(out, []byte("connect to X display")) {
			t.Errorf("session-helper without X: %v %s", err, out)
		}
	}
	if out, err := exec.Command(bin, overlay.HelperArg, "extra").CombinedOutput(); exitCode(err) != 2 {
		t.Errorf("session-helper with an argument: %v %s", err, out)
	}
	if out, err := exec.Command(bin, overlay.HelperArg, "--help").CombinedOutput(); exitCode(err) != 0 || !bytes.Contains(out, []byte("exits when stdin closes")) {
		t.Errorf("session-helper --help: %v %s", err, out)
	}
}

// TestSessionHelperExitsWhenStdinCloses shows the lock on Xvfb through the
// real binary, then closes its stdin as a dying service would.
func TestSessionHelperExitsWhenStdinCloses(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the overlay is Linux-only")
	}
	xvfb, err := exec.LookPath("Xvfb")
	if err != nil {
		t.Skip("Xvfb is not installed (apt-get install xvfb; .ci/deps installs it)")
	}
	bin := buildAgent(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	x := exec.Command(xvfb, "-displayfd", "3", "-screen", "0", "640x480x24", "-nolisten", "tcp")
	x.ExtraFiles = []*os.File{w}
	if err := x.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { _ = x.Process.Kill(); _ = x.Wait() })
	num, _ := bufio.NewReader(r).ReadString('\n')
	r.Close()
	if _, err := strconv.Atoi(strings.TrimSpace(num)); err != nil {
		t.Fatalf("Xvfb display %q", num)
	}

	cmd := helperCmd(bin, ":"+strings.TrimSpace(num))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if _, err := stdin.Write([]byte(`{"lock":true,"seq":1}` + "\n")); err != nil {
		t.Fatal(err)
	}
	reports := make(chan overlay.Report, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var r overlay.Report
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				reports <- r
			}
		}
		close(reports)
	}()
	deadline := time.After(10 * time.Second)
	for ready := false; !ready; {
		select {
		case r, ok := <-reports:
			if !ok {
				t.Fatalf("helper ended before ready: %s", stderr.String())
			}
			ready = r.T == overlay.ReportReady && r.Lock && r.Seq == 1
		case <-deadline:
			t.Fatal("no ready report")
		}
	}
	stdin.Close()
	exited := make(chan error, 1)
	go func() {
		for range reports { // drain until stdout closes
		}
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		if exitCode(err) != 0 {
			t.Errorf("helper exit after stdin closed: %v %s", err, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("helper still running 5 s after its stdin closed")
	}
}
