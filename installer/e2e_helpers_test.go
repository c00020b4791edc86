package installer

import (
	"testing"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// TestMain removes the binaries buildAgent and startHub made.
func TestMain(m *testing.M) { testbin.Main(m) }

// buildAgent builds carrel-agent for goos/amd64 the way releases are built
// (once per goos) and returns its path.
func buildAgent(t *testing.T, goos string) string {
	t.Helper()
	needTool(t, "go", "golang")
	return testbin.Build(t, testbin.Options{GOOS: goos, GOARCH: "amd64", Release: true}, "carrel-agent")["carrel-agent"]
}

// startHub serves a real carrel-hub (without the race detector: here it only
// stands in for the library's server) on a free loopback port until t ends.
func startHub(t *testing.T) *testbin.Hub {
	t.Helper()
	return testbin.StartHub(t, testbin.Build(t, testbin.Options{}, "carrel-hub")["carrel-hub"])
}
