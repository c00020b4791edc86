package store

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"
)

// ConnectBatch records each Hello as Connect would, in one transaction; an
// unknown terminal fails alone.
func TestConnectBatch(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	addTerminal(t, s, "t-1", "pc-1")
	addTerminal(t, s, "t-2", "pc-2")
	if _, err := s.Commit(ctx, &Batch{Events: []Event{{Terminal: "t-2", Seq: 1, Time: time.Now(), Kind: "k", Severity: "info"},
		{Terminal: "t-2", Seq: 2, Time: time.Now(), Kind: "k", Severity: "info"}}}); err != nil {
		t.Fatal(err)
	}
	out, err := s.ConnectBatch(ctx, []ConnectRequest{{ID: "t-1", NextSeq: 1}, {ID: "t-missing", NextSeq: 1}, {ID: "t-2", NextSeq: 1}})
	if err != nil || len(out) != 3 {
		t.Fatalf("ConnectBatch: %+v %v", out, err)
	}
	if out[0].Err != nil || out[0].AckedSeq != 0 || out[0].Reset {
		t.Errorf("t-1: %+v", out[0])
	}
	if !errors.Is(out[1].Err, sql.ErrNoRows) {
		t.Errorf("unknown terminal: %+v, want its own no-rows error", out[1])
	}
	// t-2 acked 2 and says it starts at 1 again: a new epoch, as Connect does.
	if out[2].Err != nil || out[2].AckedSeq != 0 || !out[2].Reset {
		t.Errorf("t-2: %+v, want an epoch reset", out[2])
	}
	for _, id := range []string{"t-1", "t-2"} {
		if term, err := s.Terminal(ctx, id); err != nil || !term.Online {
			t.Errorf("%s not recorded online: %+v %v", id, term, err)
		}
	}
}
