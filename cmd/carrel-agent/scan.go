package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/carrel-kiosk/carrel/agent/classify"
)

const scanUsage = `Usage: carrel-agent scan [--json] [--policy FILE] PATH...

Runs the download classifier on each PATH and prints a table: for each file,
what the download guard does with it (kept, kept but never run, not kept) and
why, then a count.

With --json it prints one JSON object per line instead, for scripts:
  {"path":"...","verdict":"allow|block|allow-noexec","reason":"...","sha256":"...","size":N,"kind":"..."}
A line whose file could not be read also has an "error" field (and says block).

A directory is walked recursively. Symbolic links are never followed: each one
is reported as {"verdict":"block","reason":"symbolic link"}, because a link
in a patron's folder is itself something the download guard removes.
Paths are printed as given; control, invisible and bidirectional-control
characters are written as escapes (\u202e; in JSON \uXXXX) so that hostile
names cannot fool a terminal.

Options:
  --json          one JSON object per line (the reasons as the classifier
                  words them) instead of the table
  --policy FILE   judge with the [classify] section of this TOML file (the
                  agent's configuration file will do) instead of the defaults
  --help          show this text

Exit status: 0 every file was judged; 1 some file could not be read (the others
are still printed); 2 bad usage or an invalid policy file.
`

// scanLine is one line of scan's output.
type scanLine struct {
	Path string `json:"path"`
	classify.Result
	Error string `json:"error,omitempty"`
}

func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("scan", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	policy := fl.String("policy", "", "")
	asJSON := fl.Bool("json", false, "")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, scanUsage)
			return 0
		}
		fmt.Fprintf(stderr, "carrel-agent scan: %v\n\n%s", err, scanUsage)
		return 2
	}
	if fl.NArg() == 0 {
		fmt.Fprintf(stderr, "carrel-agent scan: no PATH given\n\n%s", scanUsage)
		return 2
	}
	cfg := classify.DefaultConfig()
	if *policy != "" {
		var err error
		if cfg, err = loadPolicy(*policy); err != nil {
			fmt.Fprintf(stderr, "carrel-agent scan: %v\n", err)
			return 2
		}
	}
	s := &scanner{cl: classify.New(cfg), out: stdout, errw: stderr}
	if !*asJSON {
		s.table = newScanTable(stdout)
	}
	interrupted := false
	for _, p := range fl.Args() {
		if ctx.Err() != nil {
			interrupted = true
			break
		}
		s.path(ctx, p)
	}
	if s.table != nil {
		if err := s.table.close(); err != nil {
			s.failed = true
		}
	}
	if interrupted {
		fmt.Fprintln(stderr, "carrel-agent scan: interrupted")
		return 1
	}
	if s.failed {
		return 1
	}
	return 0
}

// loadPolicy reads the [classify] section of a TOML file over the defaults.
func loadPolicy(path string) (classify.Config, error) {
	doc := struct {
		Classify classify.Config `toml:"classify"`
	}{Classify: classify.DefaultConfig()}
	md, err := toml.DecodeFile(path, &doc)
	if err != nil {
		return doc.Classify, fmt.Errorf("read policy %s: %w", path, err)
	}
	for _, k := range md.Undecoded() {
		if len(k) > 0 && k[0] == "classify" {
			return doc.Classify, fmt.Errorf("read policy %s: unknown key %s", path, k)
		}
	}
	if !md.IsDefined("classify") {
		return doc.Classify, fmt.Errorf("read policy %s: no [classify] section", path)
	}
	if err := doc.Classify.Validate(); err != nil {
		return doc.Classify, fmt.Errorf("read policy %s: %w", path, err)
	}
	return doc.Classify, nil
}

type scanner struct {
	cl     *classify.Classifier
	out    io.Writer
	errw   io.Writer
	table  *scanTable // nil with --json
	failed bool
}

// path judges one command-line argument: a file, a link, or a tree.
func (s *scanner) path(ctx context.Context, p string) {
	st, err := os.Lstat(p)
	if err != nil {
		s.report(p, classify.Result{}, err)
		return
	}
	if !st.IsDir() {
		s.file(p)
		return
	}
	err = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			s.report(q, classify.Result{}, err)
			return nil // keep walking the rest
		}
		if d.IsDir() {
			return nil
		}
		s.file(q)
		return nil
	})
	if err != nil {
		fmt.Fprintf(s.errw, "carrel-agent scan: %v\n", err)
		s.failed = true
	}
}

func (s *scanner) file(p string) {
	r, err := s.cl.File(p)
	s.report(p, r, err)
}

func (s *scanner) report(p string, r classify.Result, err error) {
	line := scanLine{Path: p, Result: r}
	if err != nil {
		s.failed = true
		line.Error = err.Error()
		if line.Verdict == "" {
			line.Verdict, line.Reason = classify.Block, "could not be read"
		}
	}
	if s.table != nil {
		if werr := s.table.row(line, err); werr != nil {
			s.failed = true
		}
		return
	}
	b, merr := json.Marshal(line)
	if merr != nil { // cannot happen for these types; never print half a line
		fmt.Fprintf(s.errw, "carrel-agent scan: encode %q: %v\n", p, merr)
		s.failed = true
		return
	}
	b = append(escapeInvisible(b), '\n')
	if _, werr := s.out.Write(b); werr != nil {
		s.failed = true
	}
}

// escapeInvisible rewrites format characters (bidi controls, zero-width
// marks) inside JSON text as \uXXXX escapes; encoding/json leaves them raw,
// and a terminal would act on them. Such runes can only occur inside JSON
// strings, so the output stays valid JSON with the same meaning.
func escapeInvisible(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r < utf8.RuneSelf || !(unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r)) {
			if out != nil {
				out = append(out, b[i:i+n]...)
			}
			i += n
			continue
		}
		if out == nil {
			out = append([]byte(nil), b[:i]...)
		}
		if r > 0xffff {
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += n
	}
	if out == nil {
		return b
	}
	return out
}
