package config

import (
	"testing"
	"time"
)

func TestSelfTestSchedule(t *testing.T) {
	loc := time.FixedZone("branch", 2*3600)
	now := time.Date(2026, 12, 7, 2, 59, 0, 0, loc)
	s := DefaultSelfTest()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if next, ok := s.NextNightly(now); !ok || !next.Equal(time.Date(2026, 12, 7, 3, 0, 0, 0, loc)) {
		t.Errorf("before 03:00 local: %v %v", next, ok)
	}
	if next, _ := s.NextNightly(now.Add(time.Minute)); !next.Equal(time.Date(2026, 12, 8, 3, 0, 0, 0, loc)) {
		t.Errorf("at 03:00 local: the next is tomorrow's, got %v", next)
	}
	for _, off := range []string{"", "off"} {
		if _, ok := (SelfTest{Nightly: off}).NextNightly(now); ok {
			t.Errorf("nightly %q runs", off)
		}
	}
	for _, bad := range []SelfTest{{Nightly: "3:00"}, {Nightly: "24:00"}, {Nightly: "03:60"}, {Nightly: "noon"},
		{Nightly: "03:00", Jitter: Duration(7 * time.Hour)}, {Nightly: "03:00", CanaryDir: "tmp"}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if _, err := Parse([]byte("[selftest]\nnightly = \"off\"\njitter = \"5m\"\n")); err != nil {
		t.Errorf("a [selftest] section: %v", err)
	}
}
