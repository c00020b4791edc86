package classify

// Builders for the generated test corpus: real headers of every format the
// classifier knows, built in memory (nothing is downloaded).

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
	"unicode/utf16"
)

// pe builds a minimal PE32+ image: DOS header, e_lfanew, "PE\0\0", a COFF
// header for x86-64 and an optional header magic.
func pe() []byte {
	b := make([]byte, 0x200)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3c:], 0x80)
	copy(b[0x40:], "This program cannot be run in DOS mode.\r\r\n$")
	copy(b[0x80:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(b[0x84:], 0x8664) // machine
	binary.LittleEndian.PutUint16(b[0x86:], 1)      // sections
	binary.LittleEndian.PutUint16(b[0x94:], 0xf0)   // optional header size
	binary.LittleEndian.PutUint16(b[0x96:], 0x22)   // executable, large address aware
	binary.LittleEndian.PutUint16(b[0x98:], 0x20b)  // PE32+
	return b
}

// elf builds a 64-bit little-endian x86-64 ELF executable header.
func elf() []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(b[16:], 2)    // ET_EXEC
	binary.LittleEndian.PutUint16(b[18:], 0x3e) // x86-64
	binary.LittleEndian.PutUint32(b[20:], 1)
	binary.LittleEndian.PutUint16(b[52:], 64)
	return b
}

// macho builds a Mach-O header: 64-bit or 32-bit, big- or little-endian.
func macho(is64, big bool) []byte {
	var bo binary.ByteOrder = binary.LittleEndian
	if big {
		bo = binary.BigEndian
	}
	b := make([]byte, 32)
	magic := uint32(0xfeedface)
	cpu := uint32(7) // x86
	if is64 {
		magic, cpu = 0xfeedfacf, 0x01000007
	}
	bo.PutUint32(b, magic)
	bo.PutUint32(b[4:], cpu)
	bo.PutUint32(b[12:], 2) // MH_EXECUTE
	return b
}

// fatMacho builds a universal binary header with one x86-64 slice.
func fatMacho() []byte {
	b := make([]byte, 0x1000+32)
	binary.BigEndian.PutUint32(b, 0xcafebabe)
	binary.BigEndian.PutUint32(b[4:], 1)
	binary.BigEndian.PutUint32(b[8:], 0x01000007)
	binary.BigEndian.PutUint32(b[16:], 0x1000)
	binary.BigEndian.PutUint32(b[20:], 32)
	copy(b[0x1000:], macho(true, false))
	return b
}

type oleEntry struct {
	name string
	typ  byte // 1 storage, 2 stream
}

// ole builds a real compound file (MS-CFB v3, 512-byte sectors): header,
// one FAT sector, one directory sector with a root entry of the given CLSID
// and the given entries.
func ole(clsid [16]byte, entries ...oleEntry) []byte {
	const ss = 512
	b := make([]byte, 3*ss)
	le := binary.LittleEndian
	copy(b, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
	le.PutUint16(b[0x18:], 0x3e)
	le.PutUint16(b[0x1a:], 3)
	le.PutUint16(b[0x1c:], 0xfffe)
	le.PutUint16(b[0x1e:], 9)
	le.PutUint16(b[0x20:], 6)
	le.PutUint32(b[0x2c:], 1)          // FAT sectors
	le.PutUint32(b[0x30:], 1)          // first directory sector
	le.PutUint32(b[0x38:], 4096)       // mini stream cutoff
	le.PutUint32(b[0x3c:], 0xfffffffe) // no mini FAT
	le.PutUint32(b[0x44:], 0xfffffffe) // no DIFAT sectors
	le.PutUint32(b[0x4c:], 0)          // FAT in sector 0
	for i := 1; i < 109; i++ {
		le.PutUint32(b[0x4c+4*i:], 0xffffffff)
	}
	fat := b[ss : 2*ss]
	for i := 0; i < ss/4; i++ {
		le.PutUint32(fat[4*i:], 0xffffffff)
	}
	le.PutUint32(fat[0:], 0xfffffffd) // sector 0 is a FAT sector
	le.PutUint32(fat[4:], 0xfffffffe) // the directory is one sector
	dir := b[2*ss:]
	put := func(i int, name string, typ byte, id [16]byte) {
		e := dir[128*i : 128*(i+1)]
		u := utf16.Encode([]rune(name))
		for j, c := range u {
			le.PutUint16(e[2*j:], c)
		}
		le.PutUint16(e[0x40:], uint16(2*len(u)+2))
		e[0x42] = typ
		le.PutUint32(e[0x44:], 0xffffffff)
		le.PutUint32(e[0x48:], 0xffffffff)
		le.PutUint32(e[0x4c:], 0xffffffff)
		copy(e[0x50:], id[:])
		le.PutUint32(e[0x74:], 0xfffffffe)
	}
	put(0, "Root Entry", 5, clsid)
	for i, en := range entries {
		put(i+1, en.name, en.typ, [16]byte{})
	}
	return b
}

// lnk builds a Windows shell link header (MS-SHLLINK).
func lnk() []byte {
	b := make([]byte, 0x4c+8)
	binary.LittleEndian.PutUint32(b, 0x4c)
	copy(b[4:], "\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46")
	binary.LittleEndian.PutUint32(b[0x14:], 0x9b) // link flags
	return b
}

// iso builds an ISO-9660 image: 16 empty system sectors, then a primary
// volume descriptor ("CD001" at 0x8001) and a terminator.
func iso() []byte {
	b := make([]byte, 0x9000)
	copy(b[0x8000:], "\x01CD001\x01")
	copy(b[0x8028:], "CARREL_TEST")
	copy(b[0x8800:], "\xffCD001\x01")
	return b
}

// udf builds the UDF volume recognition sequence at 0x8000.
func udf() []byte {
	b := make([]byte, 0x9800)
	copy(b[0x8000:], "\x00BEA01\x01")
	copy(b[0x8800:], "\x00NSR02\x01")
	copy(b[0x9000:], "\x00TEA01\x01")
	return b
}

// trailer512 returns data followed by a 512-byte trailer starting with magic
// (the DMG koly block, the VHD footer).
func trailer512(data []byte, magic string) []byte {
	t := make([]byte, 512)
	copy(t, magic)
	return append(append([]byte(nil), data...), t...)
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}

type zent struct {
	name   string
	data   []byte
	method uint16
	mode   fs.FileMode // 0: default
	flags  uint16
}

// zipOf builds a zip archive with archive/zip.
func zipOf(t testing.TB, ents ...zent) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	for _, e := range ents {
		fh := &zip.FileHeader{Name: e.name, Method: e.method, Modified: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
		if e.method == 0 && e.data != nil {
			fh.Method = zip.Deflate
		}
		if e.method == 0xffff {
			fh.Method = zip.Store
		}
		if e.mode != 0 {
			fh.SetMode(e.mode)
		}
		fh.Flags |= e.flags
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawZip builds a zip with one entry whose compressed bytes and header
// fields are given as is (for bombs, encrypted flags, unknown methods).
func rawZip(t testing.TB, fh *zip.FileHeader, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(fh)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(raw)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zeroDeflate returns a raw deflate stream of n MiB of zeros, built from one
// repeated sync-flushed block so a 1 GiB bomb costs milliseconds, and the
// CRC-32 of the uncompressed data.
func zeroDeflate(t testing.TB, mib int) ([]byte, uint32) {
	t.Helper()
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	chunk := make([]byte, 1<<20)
	var blocks [][]byte
	for i := 0; i < 3; i++ {
		p := buf.Len()
		fw.Write(chunk)
		fw.Flush()
		blocks = append(blocks, append([]byte(nil), buf.Bytes()[p:]...))
	}
	if !bytes.Equal(blocks[1], blocks[2]) {
		t.Fatal("zeroDeflate: steady-state blocks differ")
	}
	out := append([]byte(nil), blocks[0]...)
	for i := 1; i < mib; i++ {
		out = append(out, blocks[1]...)
	}
	out = append(out, 0x01, 0x00, 0x00, 0xff, 0xff) // empty final stored block
	crc := uint32(0)
	for i := 0; i < mib; i++ {
		crc = crc32.Update(crc, crc32.IEEETable, chunk)
	}
	return out, crc
}

// gzipZeros wraps zeroDeflate in a gzip member.
func gzipZeros(t testing.TB, mib int) []byte {
	d, crc := zeroDeflate(t, mib)
	b := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255}
	b = append(b, d...)
	b = binary.LittleEndian.AppendUint32(b, crc)
	b = binary.LittleEndian.AppendUint32(b, uint32(mib<<20))
	return b
}

type tent struct {
	name     string
	data     []byte
	typ      byte
	linkname string
	mode     int64
}

func tarOf(t testing.TB, ents ...tent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.linkname, Mode: e.mode, Size: int64(len(e.data)),
			ModTime: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t testing.TB, data []byte, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Name = name
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

// pdf is a small but well-formed PDF with one page and a text stream.
func pdf(text string) []byte {
	stream := "BT /F1 24 Tf 72 720 Td (" + text + ") Tj ET"
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		"<< /Length " + itoa(len(stream)) + " >>\nstream\n" + stream + "\nendstream",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	var offs []int
	for i, o := range objs {
		offs = append(offs, b.Len())
		b.WriteString(itoa(i+1) + " 0 obj\n" + o + "\nendobj\n")
	}
	x := b.Len()
	b.WriteString("xref\n0 " + itoa(len(objs)+1) + "\n0000000000 65535 f \n")
	for _, o := range offs {
		s := itoa(o)
		for len(s) < 10 {
			s = "0" + s
		}
		b.WriteString(s + " 00000 n \n")
	}
	b.WriteString("trailer\n<< /Size " + itoa(len(objs)+1) + " /Root 1 0 R >>\nstartxref\n" + itoa(x) + "\n%%EOF\n")
	return b.Bytes()
}

func itoa(i int) string { return strconv.Itoa(i) }

func picture(seed uint64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	r := rand.New(rand.NewPCG(seed, 1))
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), uint8(r.IntN(256)), 255})
		}
	}
	return img
}

func jpg(seed uint64) []byte {
	var b bytes.Buffer
	jpeg.Encode(&b, picture(seed), &jpeg.Options{Quality: 80})
	return b.Bytes()
}

func pngOf(seed uint64) []byte {
	var b bytes.Buffer
	png.Encode(&b, picture(seed))
	return b.Bytes()
}

func gifOf(seed uint64) []byte {
	var b bytes.Buffer
	gif.Encode(&b, picture(seed), nil)
	return b.Bytes()
}

// mp3 is an ID3v2 tag followed by MPEG-1 layer III frames of noise.
func mp3(seed uint64) []byte {
	b := []byte("ID3\x04\x00\x00\x00\x00\x00\x0a")
	b = append(b, "TIT2\x00\x00\x00\x00\x00\x00"...)
	frame := randBytes(seed, 417)
	copy(frame, "\xff\xfb\x90\x64")
	for i := 0; i < 20; i++ {
		b = append(b, frame...)
	}
	return b
}

// ooxml builds an Office Open XML package (docx, xlsx or pptx) with its
// [Content_Types].xml, relationships and main part; extra entries are added.
func ooxml(t testing.TB, kind string, extra ...zent) []byte {
	main := map[string][2]string{
		"docx": {"word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"},
		"xlsx": {"xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"},
		"pptx": {"ppt/presentation.xml", "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"},
	}[kind]
	ct := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/` + main[0] + `" ContentType="` + main[1] + `"/></Types>`
	rels := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="` + main[0] + `"/></Relationships>`
	body := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><root>` + string(bytes.Repeat([]byte("<p>Carrel library notice</p>"), 40)) + `</root>`
	ents := []zent{{name: "[Content_Types].xml", data: []byte(ct)}, {name: "_rels/.rels", data: []byte(rels)}, {name: main[0], data: []byte(body)}}
	return zipOf(t, append(ents, extra...)...)
}

// odf builds an OpenDocument package: "mimetype" first and stored.
func odf(t testing.TB, mime string) []byte {
	manifest := `<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="` + mime + `"/></manifest:manifest>`
	return zipOf(t, zent{name: "mimetype", data: []byte(mime), method: 0xffff},
		zent{name: "META-INF/manifest.xml", data: []byte(manifest)},
		zent{name: "content.xml", data: []byte(`<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"><office:body><office:text>Opening hours</office:text></office:body></office:document-content>`)})
}

func epub(t testing.TB) []byte {
	container := `<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>`
	return zipOf(t, zent{name: "mimetype", data: []byte("application/epub+zip"), method: 0xffff},
		zent{name: "META-INF/container.xml", data: []byte(container)},
		zent{name: "OEBPS/content.opf", data: []byte(`<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata/><manifest><item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/></manifest><spine><itemref idref="c1"/></spine></package>`)},
		zent{name: "OEBPS/c1.xhtml", data: []byte(`<html xmlns="http://www.w3.org/1999/xhtml"><body><p>Chapter one</p></body></html>`)})
}
