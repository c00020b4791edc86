package e2e

import (
	"testing"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// TestMain removes the binaries build made.
func TestMain(m *testing.M) { testbin.Main(m) }

// build compiles carrel-hub and carrel-agent with the race detector, once for
// the package.
func build(t *testing.T) (hub, agent string) {
	t.Helper()
	b := testbin.Build(t, testbin.Options{Race: true}, "carrel-hub", "carrel-agent")
	return b["carrel-hub"], b["carrel-agent"]
}
