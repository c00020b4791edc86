package staffapi

import (
	"fmt"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// TestRefusalsBounded: however many sources refuse in a window, at most
// MaxRefusalSources+1 rows are written as they happen and as many summaries
// at the end; every refusal is counted once.
func TestRefusalsBounded(t *testing.T) {
	var r refusals
	now := time.Unix(1_800_000_000, 0)
	written := 0
	const sources, each = 5000, 3
	for i := 0; i < sources; i++ {
		for j := 0; j < each; j++ {
			due, write := r.note(now, fmt.Sprintf("10.0.%d.%d", i/256, i%256), "unknown", protocol.AuditStaffConnect, "refused: no valid session")
			if len(due) != 0 {
				t.Fatal("summaries before the window ended")
			}
			if write {
				written++
			}
		}
	}
	if written != MaxRefusalSources+1 {
		t.Fatalf("%d rows written at once, want %d", written, MaxRefusalSources+1)
	}
	due, write := r.note(now.Add(RefusalWindow), "10.9.9.9", "unknown", protocol.AuditStaffConnect, "x")
	if !write || len(due) > MaxRefusalSources+1 {
		t.Fatalf("new window: write %v, %d summaries", write, len(due))
	}
	summed := 0
	for _, s := range due {
		var k int
		fmt.Sscan(s.detail[protocol.AuditKeyCount], &k)
		summed += k
	}
	if summed+written != sources*each {
		t.Fatalf("%d summed + %d written, want %d", summed, written, sources*each)
	}
	// A clock moved back starts a new window rather than never ending one.
	if due, _ := r.note(now, "10.9.9.9", "unknown", protocol.AuditStaffConnect, "x"); due != nil && len(due) != 0 {
		t.Fatalf("summaries of an empty window: %v", due)
	}
}
