package wipe

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// abs turns a slash path into an absolute path of this OS (C:\... on Windows).
func abs(p string) string {
	return filepath.VolumeName(os.TempDir()) + filepath.FromSlash(p)
}

// jq is s as a JSON string.
func jq(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

const testID = "20261123T190000Z-0a1b2c3d"

var (
	jHome  = abs("/home/patron")
	jTrash = abs("/home/.carrel-trash/" + testID)
	jBegin = `{"step":"begin","time":"2026-11-23T19:00:00Z","id":"` + testID + `","user":"patron","uid":64123,"gid":64123,"home":` +
		jq(jHome) + `,"trash":` + jq(jTrash) + `,"template":` + jq(abs("/var/lib/carrel/template")) + "}\n"
)

func jl(steps ...string) string {
	var b strings.Builder
	b.WriteString(jBegin)
	for _, s := range steps {
		b.WriteString(`{"step":"` + s + `","time":"2026-11-23T19:00:01Z"`)
		if s == stepMoved {
			b.WriteString(`,"mode":"swap","aside":"home"`)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

var journalCases = []struct {
	name, in string
	last     string // "" = must fail
	attempt  int
}{
	{"begin only", jBegin, stepBegin, 0},
	{"full", jl(stepHeld, stepKilled, stepMoved, stepRecreated, stepTemp, stepVerified, stepReleased, stepPurged), stepPurged, 0},
	{"purge retried", jl(stepHeld, stepKilled, stepMoved, stepRecreated, stepTemp, stepVerified, stepReleased, stepPurged, stepPurged), stepPurged, 0},
	{"torn tail ignored", jl(stepHeld) + `{"step":"kil`, stepHeld, 0},
	{"dirty then retry", jl(stepHeld, stepKilled, stepMoved, stepRecreated, stepTemp, stepDirty, stepKilled, stepMoved), stepMoved, 1},
	{"in place", jBegin + `{"step":"held"}` + "\n" + `{"step":"killed"}` + "\n" + `{"step":"emptied","mode":"in-place"}` + "\n", stepEmptied, 0},
	{"empty", "", "", 0},
	{"torn begin", jBegin[:40], "", 0},
	{"no begin", `{"step":"held"}` + "\n", "", 0},
	{"two begins", jBegin + jBegin, "", 0},
	{"out of order", jl(stepHeld, stepMoved, stepKilled), "", 0},
	{"repeated step", jl(stepHeld, stepHeld), "", 0},
	{"unknown step", jl("format-disk"), "", 0},
	{"unknown field", jBegin + `{"step":"held","rm":"-rf"}` + "\n", "", 0},
	{"garbage line", jBegin + "nonsense\n", "", 0},
	{"relative home", strings.Replace(jBegin, `"home":`+jq(jHome), `"home":"home/patron"`, 1), "", 0},
	{"unclean home", strings.Replace(jBegin, `"home":`+jq(jHome), `"home":`+jq(jHome+string(filepath.Separator)+".."+string(filepath.Separator)+"etc"), 1), "", 0},
	{"root uid", strings.Replace(jBegin, `"uid":64123`, `"uid":0`, 1), "", 0},
	{"trash not named for id", strings.Replace(jBegin, jq(jTrash), jq(filepath.Dir(jTrash)), 1), "", 0},
	{"bad id", strings.ReplaceAll(jBegin, testID, `../x`), "", 0},
	{"aside escapes", jl(stepHeld, stepKilled) + `{"step":"moved","mode":"swap","aside":"../../etc"}` + "\n", "", 0},
	{"two values on a line", jBegin + `{"step":"held"}{"step":"killed"}` + "\n", "", 0},
}

func TestReadJournal(t *testing.T) {
	for _, c := range journalCases {
		t.Run(c.name, func(t *testing.T) {
			st, err := readJournal([]byte(c.in))
			if c.last == "" {
				if err == nil {
					t.Fatalf("accepted; last step %q", st.Last.Step)
				}
				if !errors.Is(err, errJournal) {
					t.Fatalf("error %v does not wrap errJournal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Last.Step != c.last || st.Attempt != c.attempt {
				t.Fatalf("last=%q attempt=%d, want %q %d", st.Last.Step, st.Attempt, c.last, c.attempt)
			}
			if st.Begin.UID != 64123 || st.Begin.Home != jHome {
				t.Fatalf("begin = %+v", st.Begin)
			}
		})
	}
}

func FuzzReadJournal(f *testing.F) {
	for _, c := range journalCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := readJournal(data)
		if err != nil {
			return
		}
		// Whatever is accepted names a safe scope and a known last step.
		b := st.Begin
		if !cleanAbs(b.Home) || !cleanAbs(b.Trash) || b.UID <= 0 || !validID(b.ID) {
			t.Fatalf("unsafe begin accepted: %+v", b)
		}
		if _, ok := stepOrder[st.Last.Step]; !ok {
			t.Fatalf("unknown last step %q", st.Last.Step)
		}
		for _, r := range st.Records {
			if r.Step == stepMoved && strings.ContainsAny(r.Aside, `/\`) {
				t.Fatalf("aside with a separator accepted: %q", r.Aside)
			}
		}
	})
}
