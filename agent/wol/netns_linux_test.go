package wol

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMain lets this test binary play the sender or the receiver inside a
// network namespace (ip netns exec NS <binary>), with CARREL_WOL_ROLE set.
func TestMain(m *testing.M) {
	switch os.Getenv("CARREL_WOL_ROLE") {
	case "receive":
		receive()
		return
	case "send":
		s := Sender{}
		out, err := s.Wake(context.Background(), strings.Split(os.Getenv("CARREL_WOL_MACS"), ","), netip.MustParsePrefix(os.Getenv("CARREL_WOL_SUBNET")))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(out)
		return
	}
	os.Exit(m.Run())
}

// receive listens on UDP port 9 of every address of its namespace and prints
// each datagram in hex, with the address it came from, until killed.
func receive() {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: 9})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("READY")
	for {
		buf := make([]byte, 512)
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			os.Exit(1)
		}
		fmt.Println(from.IP, hex.EncodeToString(buf[:n]))
	}
}

// Two PCs on one subnet, each in a network namespace the test makes and
// joined by a veth pair: the relay's magic packets reach the other as
// broadcasts to the subnet, from the relay's address, with the MAC asked.
func TestWakeBetweenNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CARREL_XVFB") == "1" {
			t.Fatal("the network namespace test needs root (CI runs as root)")
		}
		t.Skip("needs root for ip netns")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("ip (iproute2) is needed")
	}
	tag := fmt.Sprintf("%d", os.Getpid()%100000)
	a, b := "cwolA"+tag, "cwolB"+tag
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", a)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", a).Run() })
	ip("netns", "add", b)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", b).Run() })
	ip("link", "add", "va"+tag, "netns", a, "type", "veth", "peer", "name", "vb"+tag, "netns", b)
	ip("-n", a, "addr", "add", "10.77.0.1/24", "broadcast", "10.77.0.255", "dev", "va"+tag)
	ip("-n", b, "addr", "add", "10.77.0.2/24", "broadcast", "10.77.0.255", "dev", "vb"+tag)
	ip("-n", a, "link", "set", "va"+tag, "up")
	ip("-n", b, "link", "set", "vb"+tag, "up")

	exe, _ := os.Executable()
	recv := exec.Command("ip", "netns", "exec", b, exe)
	recv.Env = append(os.Environ(), "CARREL_WOL_ROLE=receive")
	stdout, _ := recv.StdoutPipe()
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { recv.Process.Kill(); recv.Wait() })
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case l := <-lines:
		if l != "READY" {
			t.Fatalf("receiver: %s", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver did not start")
	}

	// The link needs a moment to come up (DAD is off on IPv4; the carrier
	// is): send until the first packet arrives, within a deadline.
	const mac = "52:54:00:12:34:56"
	send := func() (string, error) {
		c := exec.Command("ip", "netns", "exec", a, exe)
		c.Env = append(os.Environ(), "CARREL_WOL_ROLE=send", "CARREL_WOL_MACS="+mac, "CARREL_WOL_SUBNET=10.77.0.0/24")
		out, err := c.CombinedOutput()
		return string(out), err
	}
	out, err := send()
	if err != nil || !strings.Contains(out, "via 10.77.0.255 from 10.77.0.1") {
		t.Fatalf("send: %v %s", err, out)
	}
	want := strings.Repeat("ff", 6) + strings.Repeat(strings.ReplaceAll(mac, ":", ""), 16)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the receiver ended")
			}
			if l != "10.77.0.1 "+want {
				t.Fatalf("received %q, want a magic packet for %s from 10.77.0.1", l, mac)
			}
			return
		case <-time.After(time.Second):
			if _, err := send(); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatal("no magic packet arrived in the other namespace")
		}
	}
}
