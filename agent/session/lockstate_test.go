package session

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
)

var lockStateSeeds = []string{
	`{"v":1,"locked":false}`,
	`{"v":1,"locked":true,"changed":"2026-11-23T09:00:00Z"}`,
	`{"v":1,"locked":false,"dirty":"verify: leftovers","patrons":["patron1"],"pending":["patron1"]}`,
}

func TestDecodeLockState(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{lockStateSeeds[0], ""},
		{lockStateSeeds[1], ""},
		{lockStateSeeds[2], ""},
		{``, "EOF"},
		{`{"v":2,"locked":true}`, "version 2"},
		{`{"locked":true}`, "version 0"},
		{`{"v":1,"locked":true,"extra":1}`, "unknown field"},
		{`{"v":1,"locked":true} {}`, "trailing data"},
		{`{"v":1,"locked":"yes"}`, "cannot unmarshal"},
		{`{"v":1,"patrons":[""]}`, "patron name"},
		{`{"v":1,"pending":["` + strings.Repeat("a", 300) + `"]}`, "patron name"},
		{`{"v":1,"dirty":"` + strings.Repeat("a", 3000) + `"}`, "dirty reason"},
		{`{"v":1,"dirty":"` + strings.Repeat("a", maxLockFile) + `"}`, "larger than"},
	}
	for _, tt := range tests {
		st, err := decodeLockState([]byte(tt.in))
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("%.40s: %v", tt.in, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, errLockState) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%.40s: err = %v, want %q", tt.in, err, tt.wantErr)
		}
		if st.Locked || st.V != 0 {
			t.Errorf("%.40s: partial state returned: %+v", tt.in, st)
		}
	}
}

func TestLockStoreRoundTrip(t *testing.T) {
	dir := winetest.TempDir(t)
	s := NewLockStore(dir)
	st, err := s.Load()
	if err != nil || st.Locked || st.Dirty != "" {
		t.Fatalf("missing file = %+v, %v; want unlocked and clean", st, err)
	}
	want := LockState{Locked: true, Changed: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), Patrons: []string{"patron1"}}
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	got, err := NewLockStore(dir).Load()
	if err != nil || !got.Locked || !got.Changed.Equal(want.Changed) || len(got.Patrons) != 1 {
		t.Fatalf("reloaded %+v, %v", got, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

func FuzzDecodeLockState(f *testing.F) {
	for _, s := range lockStateSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"v":1,"locked":true} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeLockState(b)
		if err != nil {
			return
		}
		if st.V != lockStateVersion {
			t.Fatalf("accepted version %d", st.V)
		}
		// What decodes must survive a save and a load unchanged.
		s := NewLockStore(winetest.TempDir(t))
		if err := s.Save(st); err != nil {
			t.Fatal(err)
		}
		again, err := s.Load()
		if err != nil || again.Locked != st.Locked || again.Dirty != st.Dirty || len(again.Patrons) != len(st.Patrons) || len(again.Pending) != len(st.Pending) {
			t.Fatalf("round trip %+v -> %+v, %v", st, again, err)
		}
	})
}
