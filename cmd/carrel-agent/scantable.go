package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/carrel-kiosk/carrel/agent/classify"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// scanTable prints scan's results for a person: one row per file, in words a
// librarian reads, then a count. --json keeps the exact lines for scripts.
type scanTable struct {
	w                     io.Writer
	tw                    *tabwriter.Writer
	kept, noexec, notKept int
}

func newScanTable(w io.Writer) *scanTable {
	t := &scanTable{w: w, tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	fmt.Fprintln(t.tw, "VERDICT\tFILE\tWHY")
	return t
}

// row adds one file; err is why it could not be read, if it could not.
func (t *scanTable) row(l scanLine, err error) error {
	switch l.Verdict {
	case classify.Allow:
		t.kept++
	case classify.AllowNoExec:
		t.noexec++
	default:
		t.notKept++
	}
	why := plainReason(l.Reason)
	if err != nil {
		// The path is in its own column: say only what went wrong.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		why = "could not be read: " + err.Error()
	}
	// Paths and reasons may hold names from a patron's folder: escaped, so
	// that no control or bidi character reaches the terminal, as in
	// `carrel-hub terminals`.
	_, err = fmt.Fprintf(t.tw, "%s\t%s\t%s\n", verdictWords(l.Verdict), printablePath(l.Path), protocol.Printable(why))
	return err
}

// close prints the rows, aligned, and the count.
func (t *scanTable) close() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	parts := []string{fmt.Sprintf("%d kept", t.kept)}
	if t.noexec > 0 {
		parts = append(parts, fmt.Sprintf("%d kept but never run", t.noexec))
	}
	parts = append(parts, fmt.Sprintf("%d not kept", t.notKept))
	_, err := fmt.Fprintf(t.w, "\n%s: %s\n", plural(t.kept+t.noexec+t.notKept, "file"), strings.Join(parts, ", "))
	return err
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// verdictWords says what the download guard does with a file of verdict v.
func verdictWords(v classify.Verdict) string {
	switch v {
	case classify.Allow:
		return "kept"
	case classify.AllowNoExec:
		return "kept, never run"
	}
	return "not kept"
}

// printablePath escapes each element of p with protocol.Printable but keeps
// the separators, so that a Windows path reads C:\Users\... and not
// C:\\Users\\...
func printablePath(p string) string {
	parts := strings.Split(p, string(os.PathSeparator))
	for i, s := range parts {
		parts[i] = protocol.Printable(s)
	}
	return strings.Join(parts, string(os.PathSeparator))
}

// unreadable are the classifier's reasons for a file blocked because it
// cannot be looked into, with what a librarian calls it.
var unreadable = []struct{ reason, words string }{
	{"corrupt compound file", "damaged Office file"},
	{"corrupt zip archive", "damaged zip archive"},
	{"corrupt tar archive", "damaged tar archive"},
	{"corrupt gzip stream", "damaged compressed (.gz) file"},
	{"corrupt or truncated data", "damaged or incomplete file"},
	{"encrypted Office document cannot be inspected", "password-protected Office file"},
	{"encrypted archive entry cannot be inspected", "password-protected archive"},
}

// plainReason rewrites a classifier reason that names a parser's failure
// ("corrupt compound file (read header: EOF)") in a librarian's words
// ("damaged Office file: it cannot be checked, so it was not kept"). Where the
// file sits inside an archive, that stays ("... inside "a.zip/b.doc": ...").
// Other reasons already read as plain words and are returned as they are.
func plainReason(reason string) string {
	for _, u := range unreadable {
		rest, ok := strings.CutPrefix(reason, u.reason)
		if !ok || (rest != "" && rest[0] != ' ') {
			continue
		}
		where := ""
		if i := strings.LastIndex(rest, " inside "); i >= 0 && (i == 0 || rest[i-1] == ')') {
			where = rest[i:]
		}
		return u.words + where + ": it cannot be checked, so it was not kept"
	}
	return reason
}
