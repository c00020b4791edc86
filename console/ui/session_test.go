package ui

import (
	"errors"
	"fmt"
	"testing"

	"github.com/carrel-kiosk/carrel/console/hubclient"
)

// The real client's "log in again" error is recognised through wrapping.
func TestIsSessionEnded(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("dial hub: %w (HTTP 401)", hubclient.ErrSessionEnded), true},
		{ErrSessionEnded, true},
		{hubclient.ErrDisconnected, false},
		{errors.New("session ended: log in again"), false}, // same text, not the error
		{nil, false},
	} {
		if got := IsSessionEnded(c.err); got != c.want {
			t.Errorf("IsSessionEnded(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
