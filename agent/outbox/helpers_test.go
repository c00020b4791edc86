package outbox

import (
	"testing"

	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
)

// tempDir is t.TempDir that tolerates a failing cleanup under Wine.
func tempDir(t testing.TB) string { return winetest.TempDir(t) }
