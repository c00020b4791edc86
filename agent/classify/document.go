package classify

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/htmlindex"
)

// Documents whose verdict comes from what they hold, not from their name:
// saved web pages (MHTML, as Chrome and Edge save a "single file" page) and
// e-mail messages, both MIME; and Internet shortcuts (.url), which are a web
// link or a door to a program depending on their target. Plain web pages,
// SVG pictures and PDFs, with or without scripts, are documents too: they
// open in the policy-hardened browser, where scripts stay inside the page.
// What is not a document stays blocked by name (see dangerousExt): .hta,
// .search-ms, .library-ms, .settingcontent-ms.

// Content kinds judged here.
const (
	kindMIME = "mime" // sniffed; the walker names it "mhtml" or "eml"
	kindURL  = "url"
)

// contentExt lists extensions that are judged by content alone: the content
// must be what the name says (a .mhtml that is not a web archive cannot be
// checked, so it is blocked).
var contentExt = map[string]string{
	"mht":   "saved web page",
	"mhtml": "saved web page",
	"url":   "Internet shortcut",
}

// contentKind is the sniffed kind that a contentExt extension requires.
func contentKind(ext string) string {
	if ext == "url" {
		return kindURL
	}
	return kindMIME
}

// programTypes are MIME types that declare a program, whatever the part's
// name and bytes say.
var programTypes = map[string]string{
	"application/hta":                               "HTML application (HTA)",
	"application/x-hta":                             "HTML application (HTA)",
	"application/x-msdownload":                      "Windows program",
	"application/x-msdos-program":                   "Windows program",
	"application/x-dosexec":                         "Windows program",
	"application/vnd.microsoft.portable-executable": "Windows program",
	"application/x-msi":                             "Windows Installer package",
	"application/x-ms-installer":                    "Windows Installer package",
	"application/x-ms-shortcut":                     "Windows shortcut",
	"application/x-ms-application":                  "ClickOnce application",
	"application/java-archive":                      "Java program",
	"application/x-sh":                              "shell script",
	"application/x-shellscript":                     "shell script",
	"text/scriptlet":                                "Windows script component",
	"text/vbscript":                                 "VBScript",
}

// webScriptTypes are the types of a web page's own scripts: inside a saved
// page a .js part runs in the browser's page, not in Windows Script Host.
var webScriptTypes = map[string]bool{
	"text/javascript": true, "application/javascript": true, "application/x-javascript": true,
	"application/ecmascript": true, "text/ecmascript": true,
}

// looksMIME reports a header block of RFC 5322 fields that ends within h and
// names a MIME entity (a Content-Type or MIME-Version field).
func looksMIME(h []byte) bool {
	h = bytes.TrimPrefix(h, []byte("\xef\xbb\xbf"))
	if bytes.IndexByte(h, 0) >= 0 {
		return false
	}
	fields, mimeField := 0, false
	for line := range bytes.Lines(h) {
		l := bytes.TrimRight(line, "\r\n")
		if len(l) == 0 {
			return fields > 0 && mimeField && len(line) > len(l) // a blank line ends the header
		}
		if l[0] == ' ' || l[0] == '\t' {
			if fields == 0 {
				return false
			}
			continue
		}
		i := bytes.IndexByte(l, ':')
		if i <= 0 || bytes.ContainsAny(l[:i], " \t\"(),/;<=>?@[\\]{}") {
			return false
		}
		fields++
		switch strings.ToLower(string(l[:i])) {
		case "content-type", "mime-version":
			mimeField = true
		}
	}
	return false
}

// damaged is the finding for a MIME document that cannot be read through.
func damaged(n *node) finding {
	what := "e-mail message"
	if n.kind == "mhtml" {
		what = "saved web page"
	}
	return blocked("damaged %s: it cannot be checked", what)
}

// mime walks a MIME document: every part is decoded and judged like a file
// of its own (name, declared type and content), so a saved page or an
// e-mail that carries a program is blocked and one that carries pictures,
// styles and its page's scripts is not.
func (w *walker) mime(n *node) finding {
	if f := w.deeper(n); f != nil {
		return *f
	}
	br := bufio.NewReader(stream(n))
	n.kind = "eml"
	if ext, _ := finalExt(baseName(n.name)); ext == "mht" || ext == "mhtml" {
		n.kind = "mhtml"
	}
	msg, err := mail.ReadMessage(br)
	if err != nil {
		return at(n, damaged(n))
	}
	h := textproto.MIMEHeader(msg.Header)
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt == "multipart/related" || h.Get("Snapshot-Content-Location") != "" {
		n.kind = "mhtml"
	}
	parts := 0
	f := w.entity(n, h, msg.Body, 1, false, &parts)
	if f.verdict == Block {
		return f
	}
	if n.rest != nil {
		if err := w.copyRest(io.Discard, &node{rest: br}); err != nil {
			return at(n, readFailure(err))
		}
	}
	if f.verdict == Allow {
		switch n.kind {
		case "mhtml":
			f.reason = "saved web page: it opens in the browser"
		default:
			f.reason = "e-mail message with nothing inside that runs"
		}
	}
	return f
}

// entity judges one MIME entity of n: a multipart's parts in turn, or one
// leaf part. level counts multipart nesting; related says the entity is a
// part of a web page (multipart/related); parts numbers the leaf parts.
func (w *walker) entity(n *node, h textproto.MIMEHeader, body io.Reader, level int, related bool, parts *int) finding {
	ct := h.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	switch {
	case ct == "":
		mt = "text/plain"
	case err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter):
		return at(n, damaged(n))
	}
	if strings.HasPrefix(mt, "multipart/") {
		if n.depth+level > w.cfg.MaxDepth {
			return at(n, blocked("parts nested more than %d deep", w.cfg.MaxDepth))
		}
		boundary := params["boundary"]
		if boundary == "" {
			return at(n, damaged(n))
		}
		mr := multipart.NewReader(body, boundary)
		agg := allowed
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return at(n, damaged(n))
			}
			w.entries++
			if w.entries > w.cfg.MaxEntries {
				return at(n, blocked("message holds more than %d parts", w.cfg.MaxEntries))
			}
			f := w.entity(n, p.Header, p, level+1, mt == "multipart/related", parts)
			if f.verdict == Block {
				return f
			}
			agg = worse(agg, f)
		}
		return agg
	}

	*parts++
	name, where, ok := partName(h, params, *parts)
	en := &node{path: n.path + "/" + where, name: name, depth: n.depth + 1}
	if !ok {
		return at(en, blocked("part whose name cannot be read"))
	}
	if what := programTypes[mt]; what != "" {
		return at(en, blocked("%s", what))
	}
	cr := &countReader{r: body}
	dec, ok := decoder(h.Get("Content-Transfer-Encoding"), cr)
	if !ok {
		return at(en, blocked("part in an encoding that cannot be checked (%s)", quote(h.Get("Content-Transfer-Encoding"))))
	}
	judged := name
	if related && webScriptTypes[mt] {
		if ext, _ := finalExt(baseName(name)); ext == "js" || ext == "mjs" {
			judged = "" // the page's own script, run by the browser
		}
	}
	er := &errReader{r: dec}
	g := &guard{r: er, w: w, comp: func() int64 { return cr.n }}
	c, err := w.child(n, judged, en.path, g, -1, 0)
	if er.err != nil {
		return at(n, damaged(n))
	}
	if err != nil {
		return at(en, readFailure(err))
	}
	if hasHTA(c.header) {
		return at(en, blocked("HTML application (HTA)"))
	}
	f := w.inspect(c)
	if er.err != nil {
		// A truncated part or broken encoding: what was judged is not
		// all there is.
		return at(n, damaged(n))
	}
	return f
}

// errReader remembers the first error other than io.EOF of its reader.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// hasHTA reports the element that makes HTML an HTML application.
func hasHTA(h []byte) bool {
	return bytes.Contains(bytes.ToLower(h), []byte("<hta:application"))
}

// decoder undoes a part's Content-Transfer-Encoding.
func decoder(cte string, r io.Reader) (io.Reader, bool) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return r, true
	case "quoted-printable":
		return quotedprintable.NewReader(r), true
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &spaceless{r: r}), true
	}
	return nil, false
}

// spaceless drops the blanks some mailers put in base64 lines (the decoder
// itself skips only line breaks).
type spaceless struct{ r io.Reader }

func (s *spaceless) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		k := 0
		for _, b := range p[:n] {
			if b != ' ' && b != '\t' {
				p[k] = b
				k++
			}
		}
		if k > 0 || err != nil || n == 0 {
			return k, err
		}
	}
}

var words = mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return nil, err
	}
	return enc.NewDecoder().Reader(input), nil
}}

// partName returns the name a mail program or browser would give a part
// (its attachment file name, its type's name parameter, or the last path
// component of its Content-Location) and where it is for a reason. ok is
// false when an encoded name cannot be decoded: such a part is blocked.
func partName(h textproto.MIMEHeader, ctParams map[string]string, i int) (name, where string, ok bool) {
	if _, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil || errors.Is(err, mime.ErrInvalidMediaParameter) {
		name = dp["filename"]
	}
	if name == "" {
		name = ctParams["name"]
	}
	if name != "" {
		d, err := words.DecodeHeader(name)
		if err != nil {
			return "", "part " + itoaPart(i), false
		}
		return d, d, true
	}
	if loc := strings.TrimSpace(h.Get("Content-Location")); loc != "" {
		return locationName(loc), loc, true
	}
	return "", "part " + itoaPart(i), true
}

// locationName is the file name a Content-Location ends in: the last path
// component of a URL (query and fragment dropped) or of a Windows path.
func locationName(loc string) string {
	p := loc
	if len(loc) < 2 || loc[1] != ':' { // "C:\..." is a path, not a URL with scheme c
		if u, err := url.Parse(loc); err == nil {
			p = u.Path
			if u.Opaque != "" {
				p = u.Opaque // "cid:...", "mid:..."
			}
		}
	}
	return baseName(strings.TrimRight(p, `/\`))
}

func itoaPart(i int) string {
	var b [20]byte
	k := len(b)
	for {
		k--
		b[k] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[k:])
		}
	}
}

// looksShortcut reports an INI file with an [InternetShortcut] section, as
// Windows reads .url files.
func looksShortcut(h []byte) bool {
	h = bytes.TrimPrefix(h, []byte("\xef\xbb\xbf"))
	if bytes.IndexByte(h, 0) >= 0 {
		return false
	}
	for line := range bytes.Lines(h) {
		if equalFoldASCII(string(bytes.TrimSpace(line)), "[InternetShortcut]") {
			return true
		}
	}
	return false
}

// maxShortcut is the largest .url file that is read: real ones are a few
// hundred bytes.
const maxShortcut = 16 << 10

// shortcut judges an Internet shortcut: one that opens a web page is a
// document; one whose target is a file, a share or another program's
// protocol is not, nor one that fetches anything from a network share.
func (w *walker) shortcut(n *node) finding {
	if n.size > maxShortcut || len(n.header) > maxShortcut {
		return at(n, blocked("Internet shortcut (.url) too large to be a real one"))
	}
	h := bytes.TrimPrefix(n.header, []byte("\xef\xbb\xbf"))
	var section, target, wide string
	for line := range bytes.Lines(h) {
		l := strings.TrimSpace(string(line))
		if l == "" || l[0] == ';' {
			continue
		}
		if l[0] == '[' {
			section = strings.ToLower(strings.Trim(l, "[]"))
			continue
		}
		key, v, _ := strings.Cut(l, "=")
		key, v = strings.TrimSpace(key), strings.TrimSpace(v)
		k := strings.ToLower(key)
		if share(v) && (k != "url" || !strings.HasPrefix(section, "internetshortcut")) {
			// An icon or base URL on a share is fetched as soon as Explorer
			// shows the file: it hands the patron's sign-in to that server.
			return at(n, blocked("Internet shortcut that reaches a network share (%s=%s)", short(key), short(v)))
		}
		switch {
		case k == "url" && section == "internetshortcut":
			target = v
		case k == "url" && section == "internetshortcut.w":
			wide = v
		}
	}
	if target == "" {
		return at(n, blocked("Internet shortcut (.url) with no web address"))
	}
	if wide != "" && wide != target {
		// Windows prefers the UTF-7 address of [InternetShortcut.W].
		return at(n, blocked("Internet shortcut with a second, encoded address that cannot be checked"))
	}
	u, err := url.Parse(target)
	switch {
	case shareOrFile(target):
		return at(n, blocked("Internet shortcut to a file or program (%s), not a web page", short(target)))
	case err != nil || u.Scheme == "":
		return at(n, blocked("Internet shortcut with an address that cannot be read (%s)", short(target)))
	case u.Scheme != "http" && u.Scheme != "https":
		return at(n, blocked("Internet shortcut that opens another program (a %s: address), not a web page", quote(u.Scheme)))
	case u.Host == "":
		return at(n, blocked("Internet shortcut with an address that cannot be read (%s)", short(target)))
	}
	return finding{verdict: Allow, reason: "Internet shortcut to a web page: it opens in the browser"}
}

// share reports a value that names a network share (a UNC path or a file:
// URL with a host).
func share(v string) bool {
	l := strings.ToLower(strings.TrimSpace(strings.Trim(v, `"`)))
	return strings.HasPrefix(l, `\\`) || strings.HasPrefix(l, "//") ||
		(strings.HasPrefix(l, "file:") && (strings.HasPrefix(l[5:], "//") || strings.HasPrefix(l[5:], `\\`)) && !strings.HasPrefix(l[5:], "///"))
}

// shareOrFile reports a value that names a local file, a network share or a
// file: URL.
func shareOrFile(v string) bool {
	l := strings.ToLower(strings.TrimSpace(strings.Trim(v, `"`)))
	return strings.HasPrefix(l, `\\`) || strings.HasPrefix(l, "//") || strings.HasPrefix(l, "file:") ||
		(len(l) >= 3 && l[1] == ':' && (l[2] == '\\' || l[2] == '/') && l[0] >= 'a' && l[0] <= 'z')
}

// short makes v safe for a reason, cut to a readable length. Unlike quote
// it leaves backslashes and quotes alone, so a path reads as typed.
func short(v string) string {
	if r := []rune(v); len(r) > 80 {
		v = string(r[:80]) + "…"
	}
	var b strings.Builder
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(quote(v[i : i+1]))
		case unicode.IsGraphic(r) && !unicode.Is(unicode.Cf, r):
			b.WriteRune(r)
		default:
			b.WriteString(quote(string(r)))
		}
		i += size
	}
	return b.String()
}

// documentNote is the reason an allowed leaf gets when it is a document with
// active content of its own, so a librarian reads why it stayed.
func documentNote(n *node) string {
	low := bytes.ToLower(n.header)
	switch n.kind {
	case "pdf":
		if bytes.Contains(n.header, []byte("/JavaScript")) || bytes.Contains(n.header, []byte("/JS")) {
			return "PDF with JavaScript: a document; it opens in the browser's PDF viewer, where scripts stay in the document"
		}
	case "svg":
		if bytes.Contains(low, []byte("<script")) || bytes.Contains(low, []byte("onload=")) || bytes.Contains(low, []byte("javascript:")) {
			return "SVG picture with a script: it opens in the browser, where scripts stay in the page"
		}
		return "SVG picture: it opens in the browser"
	case "html":
		return "web page: it opens in the browser"
	}
	return ""
}

// textKind names web documents among text files for Result.Kind.
func textKind(h []byte) string {
	s := bytes.TrimLeft(bytes.TrimPrefix(h, []byte("\xef\xbb\xbf")), " \t\r\n")
	low := bytes.ToLower(s[:min(len(s), 1024)])
	switch {
	case bytes.HasPrefix(low, []byte("<!doctype html")), bytes.HasPrefix(low, []byte("<html")):
		return "html"
	case bytes.HasPrefix(low, []byte("<svg")):
		return "svg"
	case bytes.HasPrefix(low, []byte("<?xml")) && bytes.Contains(low, []byte("<svg")):
		return "svg"
	}
	return ""
}
