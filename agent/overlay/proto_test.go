package overlay

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

var now = time.UnixMilli(1_800_000_000_000)

func TestDecodeCommand(t *testing.T) {
	ok := []struct {
		line string
		want Command
	}{
		{`{}`, Command{}},
		{`{"lock":true,"seq":3}`, Command{Lock: true, Seq: 3}},
		{`{"ends_at":1800000030000}`, Command{EndsAt: 1_800_000_030_000}},
		{`{"msg_id":2,"msg":"Come to the desk.\n<b>%s</b>"}`, Command{MsgID: 2, Msg: "Come to the desk.\n<b>%s</b>"}},
	}
	for _, c := range ok {
		got, err := DecodeCommand([]byte(c.line), now)
		if err != nil || got != c.want {
			t.Errorf("DecodeCommand(%s) = %+v, %v; want %+v", c.line, got, err, c.want)
		}
	}
	bad := []string{
		``, `null x`, `{"lock":true}{}`, `{"lock":"yes"}`, `{"unknown":1}`,
		`{"ends_at":-5}`, `{"ends_at":1900000000000}`, `{"ends_at":1}`,
		`{"msg_id":1,"msg":"bell\u0007"}`, `{"msg_id":1,"msg":"rtl \u202e trick"}`, `{"msg":"no id"}`, `{"msg_id":4}`,
		`{"msg_id":1,"msg":"` + strings.Repeat("x", 501) + `"}`, `{"msg_id":1,"msg":"\xff"}`,
	}
	for _, line := range bad {
		if c, err := DecodeCommand([]byte(line), now); err == nil {
			t.Errorf("DecodeCommand(%q) = %+v, want an error", line, c)
		}
	}
}

func TestDecodeReport(t *testing.T) {
	if r, err := DecodeReport([]byte(`{"t":"alive","seq":2,"lock":true,"grabbed":true,"countdown":-1,"windows":1}`)); err != nil || !r.Grabbed || r.Countdown != -1 {
		t.Errorf("DecodeReport = %+v, %v", r, err)
	}
	for _, line := range []string{`{"t":"unlock"}`, `{"t":"alive","windows":1000}`, `{"t":"alive","countdown":-2}`, `{"t":"ready","x":1}`, `[]`} {
		if _, err := DecodeReport([]byte(line)); err == nil {
			t.Errorf("DecodeReport(%s) accepted", line)
		}
	}
}

func TestLineReader(t *testing.T) {
	long := strings.Repeat("a", MaxLine+1)
	fits := strings.Repeat("b", MaxLine)
	in := "one\r\n" + long + "\n" + fits + "\ntwo\nlast"
	lr := NewLineReader(strings.NewReader(in))
	var got []string
	for {
		line, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, ErrLineTooLong) {
			got = append(got, "TOO LONG")
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(line))
	}
	want := []string{"one", "TOO LONG", fits, "two", "last"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines %.60q, want %.60q", got, want)
	}
}

// FuzzHelperInput feeds the helper's stdin decoder arbitrary bytes: it must
// never panic, never return a line over MaxLine, and never accept a command
// whose message fails CheckText or whose countdown is out of range.
func FuzzHelperInput(f *testing.F) {
	for _, s := range []string{
		`{"lock":true,"seq":1}` + "\n",
		`{"ends_at":1800000030000,"msg_id":1,"msg":"hi\nthere","seq":2}` + "\n",
		`{"msg_id":1,"msg":"\u202e"}` + "\n",
		strings.Repeat("x", MaxLine+10) + "\n{}\n",
		"{}\r\n{\"lock\":true}",
		"\xff\xfe\n",
		`{"lock":true,"patron":{"signin":true,"refusal":"pin","form":2,"clean_at":1799999000000},"seq":3}` + "\n",
		`{"patron":{"ends_at":1800003600000,"warn_id":1,"warn":5,"idle_left":30},"seq":4}` + "\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lr := NewLineReader(bytes.NewReader(b))
		for i := 0; i < 1000; i++ {
			line, err := lr.Next()
			if errors.Is(err, ErrLineTooLong) {
				continue
			}
			if err != nil {
				return
			}
			if len(line) > MaxLine {
				t.Fatalf("line of %d bytes", len(line))
			}
			c, err := DecodeCommand(line, now)
			if err != nil {
				continue
			}
			if CheckText(c.Msg) != nil {
				t.Fatalf("accepted message %q", c.Msg)
			}
			if c.EndsAt != 0 && time.UnixMilli(c.EndsAt).Sub(now).Abs() > MaxGrace {
				t.Fatalf("accepted countdown end %d", c.EndsAt)
			}
			// What is accepted survives a round trip.
			back, err := DecodeCommand(bytes.TrimSuffix(encodeLine(c), []byte("\n")), now)
			if err != nil || back != c {
				t.Fatalf("round trip of %+v: %+v, %v", c, back, err)
			}
		}
	})
}
