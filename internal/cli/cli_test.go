package cli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestDispatch(t *testing.T) {
	var got []string
	p := &Program{Name: "carrel-x", Version: "1.2", Footer: "Logs: the journal."}
	p.Register(Command{Name: "serve", Summary: "run it", Run: func(_ context.Context, args []string, stdout, _ io.Writer) int {
		got = args
		return 7
	}})
	p.Register(Command{Name: "internal-helper", Hidden: true, Run: func(context.Context, []string, io.Writer, io.Writer) int { return 0 }})

	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := p.Dispatch(context.Background(), args, &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, _ := run("serve", "--listen", ":1"); code != 7 || strings.Join(got, " ") != "--listen :1" {
		t.Fatalf("serve: code %d args %q", code, got)
	}
	code, out, _ := run()
	if code != 2 || !strings.Contains(out, "serve") || strings.Contains(out, "internal-helper") || !strings.HasSuffix(out, "Logs: the journal.\n") {
		t.Fatalf("no args: code %d\n%s", code, out)
	}
	if code, out2, _ := run("--help"); code != 0 || out2 != out {
		t.Fatalf("--help: code %d\n%s", code, out2)
	}
	if code, out, _ := run("--version"); code != 0 || out != "carrel-x 1.2\n" {
		t.Fatalf("--version: %d %q", code, out)
	}
	if code, _, errs := run("bogus"); code != 2 || !strings.Contains(errs, `unknown command "bogus"`) {
		t.Fatalf("bogus: %d %q", code, errs)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a name registered twice did not panic")
		}
	}()
	p.Register(Command{Name: "serve", Run: func(context.Context, []string, io.Writer, io.Writer) int { return 0 }})
}

func TestSplitList(t *testing.T) {
	got := SplitList(" a, b,,c ,")
	if len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Fatalf("SplitList = %q", got)
	}
	if SplitList("") != nil {
		t.Fatal("an empty flag is not an empty list")
	}
}

func TestDurationTakesDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "1d12h": 36 * time.Hour, "24h": 24 * time.Hour, "90m": 90 * time.Minute} {
		var d time.Duration
		if err := (Duration{D: &d}).Set(in); err != nil || d != want {
			t.Errorf("%s: %v %v, want %v", in, d, err, want)
		}
	}
	for _, bad := range []string{"xd", "-1d", "30 days", "d"} {
		var d time.Duration
		if err := (Duration{D: &d}).Set(bad); err == nil {
			t.Errorf("%q accepted as %v", bad, d)
		}
	}
	d := 30 * 24 * time.Hour
	if s := (Duration{D: &d}).String(); s != "30d" {
		t.Errorf("String: %s", s)
	}
}
