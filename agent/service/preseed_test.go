package service

import (
	"errors"
	"testing"
)

func TestParsePreseed(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Preseed
		err  bool
	}{
		{"all", "HUB_URL=wss://hub:8443\nHUB_FINGERPRINT=ab\nENROLL_TOKEN=t1\n", Preseed{"wss://hub:8443", "ab", "t1"}, false},
		{"quotes export comments", "# c\n\nexport HUB_URL='wss://hub'\nENROLL_TOKEN=\"t\"\n", Preseed{HubURL: "wss://hub", EnrollToken: "t"}, false},
		{"empty", "", Preseed{}, false},
		{"unknown key", "HUB=wss://x\n", Preseed{}, true},
		{"no equals", "HUB_URL\n", Preseed{}, true},
		{"http refused", "HUB_URL=http://hub\n", Preseed{}, true},
		{"space in token", "ENROLL_TOKEN=a b\n", Preseed{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePreseed([]byte(tt.in))
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err != nil && !errors.Is(err, ErrPreseedSyntax) {
				t.Errorf("err = %v, want ErrPreseedSyntax", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzPreseedRoundTrip(f *testing.F) {
	f.Add("HUB_URL=wss://hub:8443\nHUB_FINGERPRINT=ab\nENROLL_TOKEN=t1\n")
	f.Add("export HUB_URL='wss://x'\n# c\n")
	f.Fuzz(func(t *testing.T, in string) {
		p, err := ParsePreseed([]byte(in))
		if err != nil {
			return
		}
		q, err := ParsePreseed(p.Format())
		if err != nil {
			t.Fatalf("Format output does not parse: %v\n%s", err, p.Format())
		}
		if p != q {
			t.Fatalf("round trip: %+v != %+v", p, q)
		}
	})
}
