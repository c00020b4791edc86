package classify

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// formatCases reads the hand-written files of testdata/formats with the
// verdicts testdata/formats.txt gives them: saved web pages, e-mail, SVG,
// PDF with JavaScript and Internet shortcuts, judged from content, and the
// shell formats that stay blocked (issue 16 §5). They join the corpus, so
// every corpus test judges them too.
func formatCases(t testing.TB) []tcase {
	t.Helper()
	list, err := os.ReadFile(filepath.Join("testdata", "formats.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var cs []tcase
	sc := bufio.NewScanner(bytes.NewReader(list))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			t.Fatalf("formats.txt: %q: want name, verdict and reason separated by tabs", line)
		}
		data, err := os.ReadFile(filepath.Join("testdata", "formats", f[0]))
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, tcase{name: f[0], data: data, want: Verdict(f[1]), reason: f[2]})
	}
	files, err := os.ReadDir(filepath.Join("testdata", "formats"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(cs) {
		t.Fatalf("testdata/formats holds %d files and formats.txt lists %d: list each file once", len(files), len(cs))
	}
	return cs
}

// formatsWhere returns the format cases whose verdict is (or is not) Block.
func formatsWhere(t testing.TB, block bool) []tcase {
	var out []tcase
	for _, c := range formatCases(t) {
		if (c.want == Block) == block {
			out = append(out, c)
		}
	}
	return out
}

// TestFormatsFromContent: the same bytes under a partial-download name are
// not blocked by name, so the finished file is judged by what it holds; and
// a name that promises a web archive or a shortcut must hold one.
func TestFormatsFromContent(t *testing.T) {
	cl := New(DefaultConfig())
	for _, name := range []string{"page.mhtml.crdownload", "page.mht.part", "link.url.crdownload", "mail.eml.part"} {
		if r, final := cl.Name(name); final {
			t.Errorf("Name(%q) = %+v: a document must be judged by its content", name, r)
		}
	}
	page, err := os.ReadFile(filepath.Join("testdata", "formats", "saved-page.mhtml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []tcase{
		{name: "renamed-page.txt", data: page, want: Allow, reason: "saved web page"},
		{name: "hours.mhtml", data: []byte("<html><body>Opening hours</body></html>\n"), want: Block, reason: "saved web page (.mhtml) that is not one"},
		{name: "truncated.mhtml", data: page[:len(page)/2], want: Block, reason: "damaged saved web page"},
		{name: "noboundary.mht", data: []byte("MIME-Version: 1.0\r\nContent-Type: multipart/related\r\n\r\n--x\r\n"), want: Block, reason: "damaged saved web page"},
		{name: "uuencoded.eml", data: []byte("MIME-Version: 1.0\r\nContent-Type: application/octet-stream; name=a.txt\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a.txt\r\n"), want: Block, reason: "encoding that cannot be checked"},
		{name: "link.txt.url", data: []byte("[InternetShortcut]\r\nURL=\\\\203.0.113.5\\share\\run.exe\r\n"), want: Block, reason: "to a file or program"},
		{name: "wide.url", data: []byte("[InternetShortcut]\r\nURL=https://example.org/\r\n[InternetShortcut.W]\r\nURL=file:+AC8ALw-evil/x.exe\r\n"), want: Block, reason: "second, encoded address"},
		{name: "empty.url", data: []byte("[InternetShortcut]\r\nIDList=\r\n"), want: Block, reason: "no web address"},
		{name: "javascript.url", data: []byte("[InternetShortcut]\r\nURL=javascript:alert(1)\r\n"), want: Block, reason: "another program"},
		{name: "hta-element.eml", data: []byte("MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<html><HTA:APPLICATION ID=x><script>1</script></html>\r\n"), want: Block, reason: "HTML application (HTA)"},
		{name: "forwarded.eml", data: []byte("MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; name=\"run.vbs\"\r\n\r\nMsgBox 1\r\n"), want: Block, reason: ".vbs"},
		{name: "plain-letter.eml", data: []byte("From: a@example.org\r\nSubject: hello\r\n\r\nJust text.\r\n"), want: Allow},
		{name: "pages.zip", data: zipOf(t, zent{name: "saved/page.mhtml", data: page}), want: Allow},
	} {
		r, err := cl.Reader(c.name, bytes.NewReader(c.data), int64(len(c.data)), 0)
		if err != nil {
			t.Fatal(err)
		}
		checkCase(t, c, r)
	}
}
