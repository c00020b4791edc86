package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// A hub without a public name is said to have none on the enrollment screen,
// before and after a token is made, with what to do; the lines name the
// package files carrel-package builds.
func TestEnrollmentSaysNoPublicName(t *testing.T) {
	hub := newFakeHub(protocol.RoleAdmin)
	hub.noName = true
	h := newHarnessHub(t, hub, Options{HubURL: "https://127.0.0.1:8443", Fingerprint: strings.Repeat("ab", 32)})
	h.login("ann")
	ev := h.ui.admin.enroll
	h.wait("the no-public-name warning", func() bool { return ev.noName.Visible() })
	if !strings.Contains(ev.noName.Text, "This hub has no public name: set carrel-hub serve --name HOST") {
		t.Fatalf("warning %q", ev.noName.Text)
	}
	test.Tap(ev.create)
	h.wait("the token", func() bool { return ev.out["Token"].Text == "ctok_abc" })
	if !ev.noName.Visible() {
		t.Fatal("the warning went away with the token")
	}
	if f := ev.files.Text; !strings.Contains(f, "carrel-agent-1.4.2-x64.msi") || !strings.Contains(f, "carrel-agent_1.4.2-1_amd64.deb") {
		t.Fatalf("package files line %q", f)
	}
}

// A hub with a public name gets no warning, and the embedded hub's advice is
// the console's own flag.
func TestEnrollmentPublicNameNoWarning(t *testing.T) {
	h := newHarness(t, protocol.RoleAdmin)
	h.login("ann")
	ev := h.ui.admin.enroll
	test.Tap(ev.create)
	h.wait("the token", func() bool { return ev.out["Token"].Text == "ctok_abc" })
	h.drain()
	if ev.noName.Visible() {
		t.Fatalf("warning shown for a hub with a public name: %q", ev.noName.Text)
	}
	if !strings.Contains(noPublicNameText(true), "--embedded-name HOST") {
		t.Errorf("embedded advice %q", noPublicNameText(true))
	}
}
