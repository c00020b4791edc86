package classify

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// walker holds the state of judging one file: the bounds spent so far. It is
// not shared between goroutines.
type walker struct {
	cfg     *Config
	entries int   // archive entries seen, over all nested archives
	total   int64 // uncompressed bytes produced, over all nested streams
	drain   []byte
}

// node is one thing being judged: the file itself or something inside it.
type node struct {
	path   string      // where it is, for reasons: "invoice.zip/inner.zip/setup.exe"
	name   string      // the name judged by judgeName
	header []byte      // the first bytes (up to headerSize)
	rest   io.Reader   // the bytes after header, as a stream; nil when ra is set and nothing streams
	ra     io.ReaderAt // random access to the whole node, or nil
	size   int64       // total size, or -1 when unknown
	mode   fs.FileMode // permission bits, 0 when unknown
	depth  int         // 0 for the file itself
	kind   string      // set by inspect: the detected content type
}

var (
	errBomb    = errors.New("compression ratio over the limit")
	errTooBig  = errors.New("uncompressed size over the limit")
	errTooMany = errors.New("too many archive entries")
)

// ratioFloor is the uncompressed size under which the ratio is not checked:
// tiny, repetitive files compress well without being bombs.
const ratioFloor = 8 << 20

// at locates a finding at n (nothing to add for the file itself).
func at(n *node, f finding) finding {
	if n.depth > 0 && f.verdict != Allow {
		f.reason += " inside " + quote(n.path)
	}
	return f
}

// inspect judges n by name and content. It returns at the first block. A
// streamed node (ra == nil) is read to its end unless blocked, so that
// decompressors verify their checksums and the bounds see every byte.
func (w *walker) inspect(n *node) finding {
	// Content first: "Windows program (PE)" says more than ".exe".
	kind, reason := sniff(n.header)
	n.kind = kind
	if reason != "" {
		return at(n, blocked("%s", reason))
	}
	ni := w.judgeName(n.name)
	if ni.verdict == Block {
		return at(n, ni.finding)
	}
	f := ni.finding
	if ext, _ := finalExt(baseName(n.name)); contentExt[ext] != "" && kind != contentKind(ext) {
		return at(n, blocked("%s (.%s) that is not one: it cannot be checked", contentExt[ext], ext))
	}
	var cf finding
	switch {
	case kind == kindMIME:
		cf = w.mime(n)
	case kind == kindURL:
		cf = w.shortcut(n)
	case kind == kindZip:
		cf = w.zip(n)
	case kind == kindOLE:
		cf = w.ole(n)
	case kind == kindGzip || kind == kindBzip2:
		cf = w.decompress(n, kind)
	case kind == kindTar || tarNamed(n.name):
		cf = w.tar(n)
	default:
		cf = w.leaf(n)
		if cf.verdict == Allow && cf.reason == "" {
			cf.reason = documentNote(n)
		}
	}
	if cf.verdict == Block {
		return cf
	}
	f = worse(cf, f) // on a tie the content's reason says more
	if execBits(n.mode) {
		if ni.script {
			return at(n, blocked("script (%s) with the executable permission bit", quote(path.Ext(baseName(n.name)))))
		}
		f = worse(f, at(n, finding{verdict: AllowNoExec, reason: "executable permission bit set"}))
	}
	return f
}

func tarNamed(name string) bool {
	ext, _ := finalExt(baseName(name))
	return ext == "tar"
}

// leaf finishes a node that is not a container: it reads a streamed node to
// its end and checks the trailer.
func (w *walker) leaf(n *node) finding {
	var tail []byte
	if n.ra != nil {
		// Enough for the end of central directory of a zip with the longest
		// comment: a zip behind other bytes (a JPEG, junk) still opens in
		// Explorer and in unzip.
		tail = make([]byte, min(n.size, eocdSearch))
		if _, err := n.ra.ReadAt(tail, n.size-int64(len(tail))); err != nil && err != io.EOF {
			return at(n, readFailure(err))
		}
	} else {
		t := tailWriter{buf: make([]byte, 0, 2*trailerSize)}
		t.Write(n.header)
		if err := w.copyRest(&t, n); err != nil {
			return at(n, readFailure(err))
		}
		tail = t.buf
	}
	if kind, reason := sniffTrailer(tail); reason != "" {
		n.kind = kind
		return at(n, blocked("%s", reason))
	}
	if hasEOCD(tail) {
		if n.ra == nil {
			return at(n, blocked("zip archive hidden behind other data"))
		}
		f := w.zip(n)
		if f.verdict == Block {
			f.reason = "zip archive hidden behind other data: " + f.reason
		}
		return f
	}
	return allowed
}

// eocdSearch is how far from the end a zip's end-of-central-directory record
// can start: its 22 bytes plus a comment of up to 65535.
const eocdSearch = 22 + 65535

// hasEOCD reports a zip end-of-central-directory record in tail whose
// comment length reaches exactly the end, as zip readers look for it.
func hasEOCD(tail []byte) bool {
	for i := len(tail) - 22; i >= 0; i-- {
		if tail[i] == 'P' && tail[i+1] == 'K' && tail[i+2] == 5 && tail[i+3] == 6 &&
			int(tail[i+20])|int(tail[i+21])<<8 == len(tail)-i-22 {
			return true
		}
	}
	return false
}

// copyRest copies the rest of a streamed node to dst.
func (w *walker) copyRest(dst io.Writer, n *node) error {
	if n.rest == nil {
		return nil
	}
	if w.drain == nil {
		w.drain = make([]byte, 64<<10)
	}
	_, err := io.CopyBuffer(dst, n.rest, w.drain)
	return err
}

// tailWriter keeps the last trailerSize bytes written to it.
type tailWriter struct{ buf []byte }

func (t *tailWriter) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= trailerSize {
		t.buf = append(t.buf[:0], p[len(p)-trailerSize:]...)
		return n, nil
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > trailerSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-trailerSize:]...)
	}
	return n, nil
}

// readFailure turns an error met while reading inside the file into a block.
func readFailure(err error) finding {
	switch {
	case errors.Is(err, errBomb):
		return blocked("archive bomb: compression ratio over the limit")
	case errors.Is(err, errTooBig):
		return blocked("archive bomb: expands past the size limit")
	case errors.Is(err, errTooMany):
		return blocked("archive holds too many entries")
	case errors.Is(err, zip.ErrAlgorithm):
		return blocked("archive uses an unsupported compression method")
	}
	return blocked("corrupt or truncated data (%v)", err)
}

// random returns random access to n, holding a streamed node in memory up to
// Config.MaxBufferBytes.
func (w *walker) random(n *node) (io.ReaderAt, int64, *finding) {
	if n.ra != nil {
		return n.ra, n.size, nil
	}
	limit := w.cfg.MaxBufferBytes
	var buf bytes.Buffer
	buf.Write(n.header)
	_, err := io.CopyN(&buf, n.rest, limit-int64(len(n.header))+1)
	if err != nil && err != io.EOF {
		f := at(n, readFailure(err))
		return nil, 0, &f
	}
	if int64(buf.Len()) > limit {
		f := at(n, blocked("nested %s larger than %d MiB cannot be inspected in memory", n.kind, limit>>20))
		return nil, 0, &f
	}
	return bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil
}

// stream returns n as one stream from its first byte.
func stream(n *node) io.Reader {
	if n.rest == nil {
		return io.NewSectionReader(n.ra, 0, n.size)
	}
	return io.MultiReader(bytes.NewReader(n.header), n.rest)
}

// child reads the header of a contained stream and builds its node.
func (w *walker) child(parent *node, name, at string, r io.Reader, size int64, mode fs.FileMode) (*node, error) {
	hs := int64(headerSize)
	if size >= 0 && size < hs {
		hs = size // a lie only shortens the sniff; the rest is still read and checked
	}
	h := make([]byte, hs)
	k, err := io.ReadFull(r, h)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	return &node{path: at, name: name, header: h[:k], rest: r, size: size, mode: mode, depth: parent.depth + 1}, nil
}

func (w *walker) deeper(n *node) *finding {
	if n.depth+1 > w.cfg.MaxDepth {
		f := at(n, blocked("archives nested more than %d deep", w.cfg.MaxDepth))
		return &f
	}
	return nil
}

// guard counts the uncompressed bytes read through it and fails once the
// walker's total or the stream's ratio passes its bound.
type guard struct {
	r    io.Reader
	w    *walker
	n    int64
	comp func() int64 // compressed bytes behind the n bytes so far
}

func (g *guard) Read(p []byte) (int, error) {
	k, err := g.r.Read(p)
	g.n += int64(k)
	g.w.total += int64(k)
	if g.w.total > g.w.cfg.MaxTotalBytes {
		return k, errTooBig
	}
	if g.n > ratioFloor && g.n > g.w.cfg.MaxRatio*max(g.comp(), 1) {
		return k, errBomb
	}
	return k, err
}

// countReader counts the bytes read from r.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}

// decompress walks into a gzip or bzip2 stream.
func (w *walker) decompress(n *node, kind string) finding {
	if f := w.deeper(n); f != nil {
		return *f
	}
	cr := &countReader{r: stream(n)}
	var (
		r     io.Reader
		inner = strings.TrimSuffix(baseName(n.name), path.Ext(baseName(n.name)))
	)
	switch kind {
	case kindGzip:
		zr, err := gzip.NewReader(cr)
		if err != nil {
			return at(n, blocked("corrupt gzip stream (%v)", err))
		}
		if zr.Name != "" {
			inner = zr.Name // attacker-chosen: judged like any name
		}
		r = zr
	case kindBzip2:
		r = bzip2.NewReader(cr)
	}
	if ext, _ := finalExt(n.name); ext == "tgz" || ext == "tbz" || ext == "tbz2" {
		inner += ".tar"
	}
	g := &guard{r: r, w: w, comp: func() int64 { return cr.n }}
	c, err := w.child(n, inner, n.path, g, -1, 0)
	if err != nil {
		return at(n, readFailure(err))
	}
	return w.inspect(c)
}

// tar walks a tar stream.
func (w *walker) tar(n *node) finding {
	if f := w.deeper(n); f != nil {
		return *f
	}
	src := stream(n)
	tr := tar.NewReader(src)
	agg := allowed
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return at(n, blocked("corrupt tar archive (%v)", err))
		}
		w.entries++
		if w.entries > w.cfg.MaxEntries {
			return at(n, blocked("archive holds more than %d entries", w.cfg.MaxEntries))
		}
		ep := n.path + "/" + hdr.Name
		en := &node{path: ep, name: hdr.Name, depth: n.depth + 1}
		if !localPath(hdr.Name) {
			return at(en, blocked("entry path escapes the archive (%s)", quote(hdr.Name)))
		}
		switch hdr.Typeflag {
		case tar.TypeSymlink, tar.TypeLink:
			if !localPath(hdr.Linkname) || strings.HasPrefix(path.Clean(path.Join(path.Dir(hdr.Name), hdr.Linkname)), "../") {
				return at(en, blocked("link pointing outside the archive (%s)", quote(hdr.Linkname)))
			}
			if f := w.judgeName(hdr.Name); f.verdict == Block {
				return at(en, f.finding)
			}
			continue
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			return at(en, blocked("device or pipe in archive"))
		case tar.TypeDir:
			if f := w.judgeName(hdr.Name); f.verdict == Block {
				return at(en, f.finding)
			}
			continue
		}
		// Everything else is judged as a file: regular files, and any type
		// an extractor might still write out as one.
		c, err := w.child(n, hdr.Name, ep, tr, hdr.Size, hdr.FileInfo().Mode().Perm())
		if err != nil {
			return at(en, readFailure(err))
		}
		f := w.inspect(c)
		if f.verdict == Block {
			return f
		}
		agg = worse(agg, f)
	}
	// Read to the end so a compressed parent verifies its checksum.
	if n.rest != nil {
		if err := w.copyRest(io.Discard, &node{rest: src}); err != nil {
			return at(n, readFailure(err))
		}
	}
	return agg
}

// localPath reports whether an archive entry name stays inside the archive
// (no absolute path, drive letter, or ".." component; both separators count).
func localPath(name string) bool {
	s := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(s, "/") || (len(s) >= 2 && s[1] == ':') {
		return false
	}
	for _, c := range strings.Split(s, "/") {
		if c == ".." {
			return false
		}
	}
	return true
}

// zip walks a zip archive through its central directory.
func (w *walker) zip(n *node) finding {
	if f := w.deeper(n); f != nil {
		return *f
	}
	ra, size, ferr := w.random(n)
	if ferr != nil {
		return *ferr
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return at(n, blocked("corrupt zip archive (%v)", err))
	}
	if zr == nil {
		return at(n, blocked("corrupt zip archive"))
	}
	w.entries += len(zr.File)
	if w.entries > w.cfg.MaxEntries {
		return at(n, blocked("archive holds more than %d entries", w.cfg.MaxEntries))
	}
	pkg := zipPackage(zr)
	if n.depth == 0 && pkg.kind != "" {
		n.kind = pkg.kind
	}
	if pkg.block != "" {
		return at(n, blocked("%s", pkg.block))
	}
	agg := allowed
	for _, zf := range zr.File {
		ep := n.path + "/" + zf.Name
		en := &node{path: ep, name: zf.Name, depth: n.depth + 1}
		if !localPath(zf.Name) {
			return at(en, blocked("entry path escapes the archive (%s)", quote(zf.Name)))
		}
		if zf.Flags&0x1 != 0 || zf.Method == 99 {
			return at(en, blocked("encrypted archive entry cannot be inspected"))
		}
		mode := zf.Mode()
		if mode&fs.ModeSymlink != 0 {
			return at(en, blocked("symbolic link in archive"))
		}
		if strings.HasSuffix(zf.Name, "/") && zf.UncompressedSize64 == 0 {
			// A directory by name (extractors go by the name, not the
			// attribute bits, so a "directory" with a file name is judged
			// as a file).
			if ni := w.judgeName(zf.Name); ni.verdict == Block {
				return at(en, ni.finding)
			}
			continue
		}
		if zf.UncompressedSize64 > ratioFloor && zf.UncompressedSize64/max(zf.CompressedSize64, 1) > uint64(w.cfg.MaxRatio) {
			return at(en, blocked("archive bomb: compression ratio %d:1", zf.UncompressedSize64/max(zf.CompressedSize64, 1)))
		}
		if zf.UncompressedSize64 > uint64(w.cfg.MaxTotalBytes) || w.total+int64(zf.UncompressedSize64) > w.cfg.MaxTotalBytes {
			return at(en, blocked("archive bomb: expands past %d MiB", w.cfg.MaxTotalBytes>>20))
		}
		rc, err := zf.Open()
		if err != nil {
			if errors.Is(err, zip.ErrAlgorithm) {
				return at(en, blocked("unsupported compression method %d", zf.Method))
			}
			return at(en, readFailure(err))
		}
		comp := int64(zf.CompressedSize64)
		g := &guard{r: rc, w: w, comp: func() int64 { return comp }}
		c, err := w.child(n, zf.Name, ep, g, int64(zf.UncompressedSize64), mode.Perm())
		if err != nil {
			rc.Close()
			return at(en, readFailure(err))
		}
		f := w.inspect(c)
		rc.Close()
		if f.verdict == Block {
			return f
		}
		agg = worse(agg, f)
	}
	return agg
}

// macros is the finding for an Office document that carries VBA macros.
func (w *walker) macros() finding {
	if w.cfg.BlockOfficeMacros {
		return blocked("Office document with macros")
	}
	return finding{verdict: AllowNoExec, reason: "Office document with macros (allowed by policy; macros must stay disabled)"}
}

// zipInfo is what a zip's entry names say it is.
type zipInfo struct {
	kind  string // "docx", "xlsx", "pptx", "ooxml", "odf", "epub", "jar", "zip"
	block string // a package that installs or runs as a whole
}

func zipPackage(zr *zip.Reader) zipInfo {
	names := map[string]bool{}
	for _, f := range zr.File {
		names[strings.ToLower(f.Name)] = true
	}
	zi := zipInfo{kind: "zip"}
	switch {
	case names["appxmanifest.xml"] || names["appxmetadata/appxbundlemanifest.xml"] || names["appxblockmap.xml"]:
		zi.block = "Windows app package (APPX/MSIX)"
	case names["[content_types].xml"]:
		switch {
		case names["word/document.xml"]:
			zi.kind = "docx"
		case names["xl/workbook.xml"]:
			zi.kind = "xlsx"
		case names["ppt/presentation.xml"]:
			zi.kind = "pptx"
		default:
			zi.kind = "ooxml"
		}
	case names["meta-inf/manifest.mf"]:
		zi.kind = "jar"
	case names["mimetype"] && names["meta-inf/container.xml"]:
		zi.kind = "epub"
	case names["mimetype"] && names["meta-inf/manifest.xml"]:
		zi.kind = "odf"
	}
	if zi.kind == "jar" {
		for n := range names {
			if strings.HasSuffix(n, ".class") {
				zi.block = "Java program (JAR)"
			}
		}
	}
	return zi
}

// ole judges a compound file (MSI, legacy Office, embedded objects).
func (w *walker) ole(n *node) finding {
	ra, size, ferr := w.random(n)
	if ferr != nil {
		return *ferr
	}
	info, err := readOLE(ra, size)
	if err != nil {
		return at(n, blocked("corrupt compound file (%v)", err))
	}
	switch {
	case info.installer != "":
		n.kind = "msi"
		return at(n, blocked("%s", info.installer))
	case info.native:
		return at(n, blocked("embedded OLE package (can carry a program)"))
	case info.encrypted:
		return at(n, blocked("encrypted Office document cannot be inspected"))
	case info.office != "":
		n.kind = info.office
		if info.macros {
			return at(n, w.macros())
		}
		return allowed
	case info.vbaProject():
		// An OOXML document's vbaProject.bin (or a bare VBA project): its
		// directory is read like any compound file's, so an embedded
		// package that merely takes this name is still caught above.
		n.kind = "vba"
		return at(n, w.macros())
	case info.mail:
		return at(n, blocked("Outlook message (attachments cannot be inspected)"))
	}
	return at(n, blocked("compound file of unknown type (%s)", fmt.Sprint(info.sample())))
}
