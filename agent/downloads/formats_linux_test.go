//go:build linux

package downloads

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// TestGuardFormats downloads each hand-written format case of the
// classifier's corpus (agent/classify/testdata/formats) the way a browser
// does: a saved web page, an e-mail, an SVG, a PDF with JavaScript and a
// web shortcut stay in Downloads untouched; an MHT that embeds an HTA, a
// .url to a file and the shell formats are moved to quarantine, each with
// its event (issue 16 §5).
func TestGuardFormats(t *testing.T) {
	src := filepath.Join("..", "classify", "testdata")
	list, err := os.ReadFile(filepath.Join(src, "formats.txt"))
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	os.Mkdir(filepath.Join(home, "Downloads"), 0o755)
	env := startGuard(t, home, &eventrec.Recorder{})

	type want struct {
		path  string
		data  []byte
		block bool
	}
	var cases []want
	sc := bufio.NewScanner(bytes.NewReader(list))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, "formats", f[0]))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(home, "Downloads", f[0])
		writeLikeBrowser(t, p, data)
		cases = append(cases, want{p, data, f[1] == "block"})
	}
	if len(cases) < 10 {
		t.Fatalf("only %d format cases in formats.txt", len(cases))
	}
	for _, c := range cases {
		if c.block {
			testbin.WaitFor(t, 10*time.Second, "quarantine of "+c.path, func() bool {
				_, err := os.Lstat(c.path)
				return errors.Is(err, os.ErrNotExist) && len(env.blockedEvent(filepath.Base(c.path))) == 1
			})
			continue
		}
		testbin.WaitFor(t, 10*time.Second, "judgement of "+c.path, func() bool { _, ok := env.cls.judged(c.path); return ok })
		got, err := os.ReadFile(c.path)
		if err != nil || !bytes.Equal(got, c.data) {
			t.Errorf("%s: a document must stay as downloaded (err %v)", filepath.Base(c.path), err)
		}
		if len(env.blockedEvent(filepath.Base(c.path))) != 0 {
			t.Errorf("%s: blocked event for a document", filepath.Base(c.path))
		}
	}
}
