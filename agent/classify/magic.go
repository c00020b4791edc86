package classify

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
)

// Container kinds that the walker opens; every other kind is a leaf.
const (
	kindZip   = "zip"
	kindOLE   = "ole"
	kindGzip  = "gzip"
	kindBzip2 = "bzip2"
	kindTar   = "tar"
)

// sniff names the content type of a file from its first bytes (up to
// headerSize) and, for content that must never stay, says why. It never
// reads past header: trailers (DMG, VHD) are checked by sniffTrailer.
func sniff(h []byte) (kind, blockReason string) {
	has := func(off int, magic string) bool {
		return len(h) >= off+len(magic) && string(h[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "MZ"):
		if off := peOffset(h); off > 0 {
			return "pe", "Windows program (PE)"
		}
		return "mz", "DOS or Windows program (MZ)"
	case has(0, "\x7fELF"):
		return "elf", "Linux program (ELF)"
	case has(0, "\xfe\xed\xfa\xce"), has(0, "\xce\xfa\xed\xfe"):
		return "macho", "macOS program (Mach-O 32-bit)"
	case has(0, "\xfe\xed\xfa\xcf"), has(0, "\xcf\xfa\xed\xfe"):
		return "macho", "macOS program (Mach-O 64-bit)"
	case has(0, "\xca\xfe\xba\xbe"), has(0, "\xca\xfe\xba\xbf"), has(0, "\xbe\xba\xfe\xca"), has(0, "\xbf\xba\xfe\xca"):
		// Also the Java class file magic: both are programs.
		return "macho-fat", "macOS universal program (Mach-O fat) or Java class"
	case has(0, "#!"), has(0, "\xef\xbb\xbf#!"):
		return "script", "script with an interpreter line (#!)"
	case has(0, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
		return kindOLE, ""
	case has(0, "L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"):
		return "lnk", "Windows shortcut (LNK)"
	case has(0, "ITSF"):
		return "chm", "compiled HTML help (CHM)"
	case has(0, "MSCF\x00\x00\x00\x00"):
		return "cab", "cannot inspect CAB contents"
	case has(0, "ISc("):
		return "cab", "cannot inspect InstallShield CAB contents"
	case has(0, "7z\xbc\xaf\x27\x1c"):
		return "7z", "cannot inspect 7z contents"
	case has(0, "Rar!\x1a\x07\x01\x00"):
		return "rar", "cannot inspect RAR contents (RAR5)"
	case has(0, "Rar!\x1a\x07\x00"):
		return "rar", "cannot inspect RAR contents (RAR4)"
	case has(0, "\xfd7zXZ\x00"):
		return "xz", "cannot inspect xz contents"
	case has(0, "\x28\xb5\x2f\xfd"):
		return "zstd", "cannot inspect zstd contents"
	case has(0, "\x5d\x00\x00"), has(0, "LZIP"):
		return "lzma", "cannot inspect LZMA contents"
	case has(0, "vhdxfile"):
		return "vhdx", "virtual disk (VHDX)"
	case has(0, "conectix"):
		return "vhd", "virtual disk (VHD)"
	case has(0, "MSWIM\x00\x00\x00"):
		return "wim", "Windows image (WIM)"
	case has(0, "Cr24"):
		return "crx", "browser extension (CRX)"
	case has(0, "dex\n"):
		return "dex", "Android program (DEX)"
	case has(0, "\x00asm"):
		return "wasm", "WebAssembly program"
	case has(0, "PK\x03\x04"), has(0, "PK\x05\x06"), has(0, "PK\x07\x08"):
		return kindZip, ""
	case has(0, "\x1f\x8b"):
		return kindGzip, ""
	case has(0, "BZh") && len(h) > 3 && h[3] >= '1' && h[3] <= '9':
		return kindBzip2, ""
	case has(257, "ustar"):
		return kindTar, ""
	case has(0, "!<arch>\n"):
		return "ar", "Unix archive (ar: .deb packages, static libraries)"
	case has(0, "\xed\xab\xee\xdb"):
		return "rpm", "RPM package"
	case has(0, "xar!"):
		return "xar", "macOS installer package (xar)"
	}
	for _, off := range []int{0x8001, 0x8801, 0x9001} {
		switch {
		case has(off, "CD001"):
			return "iso", "disk image (ISO-9660)"
		case has(off, "BEA01"), has(off, "NSR02"), has(off, "NSR03"), has(off, "TEA01"):
			return "udf", "disk image (UDF)"
		}
	}
	if r := textBlockReason(h); r != "" {
		return "text", r
	}
	switch {
	case looksShortcut(h):
		return kindURL, ""
	case looksMIME(h):
		return kindMIME, ""
	}
	return leafKind(h), ""
}

// peOffset returns the offset of the "PE\0\0" signature an MZ header points
// to, or 0.
func peOffset(h []byte) int {
	if len(h) < 0x40 {
		return 0
	}
	off := int(binary.LittleEndian.Uint32(h[0x3c:]))
	if off <= 0 || off+4 > len(h) || string(h[off:off+4]) != "PE\x00\x00" {
		return 0
	}
	return off
}

// sniffTrailer checks the last bytes of a file (up to trailerSize) for
// formats that identify themselves at the end.
func sniffTrailer(t []byte) (kind, blockReason string) {
	if len(t) < trailerSize {
		return "", ""
	}
	last := t[len(t)-trailerSize:]
	switch {
	case bytes.HasPrefix(last, []byte("koly")):
		return "dmg", "macOS disk image (DMG)"
	case bytes.HasPrefix(last, []byte("conectix")):
		return "vhd", "virtual disk (VHD)"
	}
	return "", ""
}

// trailerSize is the size of the DMG koly block and of the VHD footer.
// sniffTrailer looks at the last trailerSize bytes of what it is given.
const trailerSize = 512

// textLines are the first significant lines of text files that the OS acts
// on by content rather than by name.
var textMarkers = []struct{ line, needs, reason string }{
	{"[Desktop Entry]", "Exec", "Linux desktop launcher"},
	{"[Shell]", "Command", "Windows Explorer command file (.scf)"},
	{"Windows Registry Editor Version", "", "registry file"},
	{"REGEDIT4", "", "registry file"},
}

// textBlockReason finds launchers and shortcuts written as text.
func textBlockReason(h []byte) string {
	h = bytes.TrimPrefix(h, []byte("\xef\xbb\xbf"))
	if bytes.HasPrefix(h, []byte("\xff\xfe")) { // UTF-16LE: .reg files exported by regedit
		if bytes.HasPrefix(h[2:], utf16le("Windows Registry Editor")) {
			return "registry file"
		}
		return ""
	}
	if bytes.IndexByte(h, 0) >= 0 {
		return ""
	}
	first := ""
	for line := range bytes.Lines(h) {
		l := string(bytes.TrimSpace(line))
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		first = l
		break
	}
	for _, m := range textMarkers {
		if len(first) >= len(m.line) && equalFoldASCII(first[:len(m.line)], m.line) {
			if m.needs == "" || bytes.Contains(h, []byte("\n"+m.needs)) {
				return m.reason
			}
		}
	}
	return ""
}

func equalFoldASCII(a, b string) bool { return bytes.EqualFold([]byte(a), []byte(b)) }

func utf16le(s string) []byte {
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = append(b, s[i], 0)
	}
	return b
}

// leafKind names harmless content for Result.Kind; "" when unknown.
func leafKind(h []byte) string {
	has := func(off int, magic string) bool {
		return len(h) >= off+len(magic) && string(h[off:off+len(magic)]) == magic
	}
	switch {
	case len(h) == 0:
		return "empty"
	case has(0, "%PDF-"):
		return "pdf"
	case has(0, "\x89PNG\r\n\x1a\n"):
		return "png"
	case has(0, "\xff\xd8\xff"):
		return "jpeg"
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return "gif"
	case has(0, "RIFF") && has(8, "WEBP"):
		return "webp"
	case has(0, "RIFF") && has(8, "WAVE"):
		return "wav"
	case has(0, "ID3"), len(h) > 1 && h[0] == 0xff && h[1]&0xe0 == 0xe0:
		return "mp3"
	case has(4, "ftyp"):
		return "mp4"
	case has(0, "OggS"):
		return "ogg"
	case has(0, "fLaC"):
		return "flac"
	case has(0, "{\\rtf"):
		return "rtf"
	case has(0, "\x1aE\xdf\xa3"):
		return "matroska"
	case has(0, "II*\x00"), has(0, "MM\x00*"):
		return "tiff"
	case has(0, "BM"):
		return "bmp"
	}
	if k := textKind(h); k != "" {
		return k
	}
	if utf8.Valid(h) || (len(h) > 3 && utf8.Valid(h[:len(h)-3])) {
		return "text"
	}
	return "data"
}

// sniffKind is sniff without the verdict, for Result.Kind.
func sniffKind(h []byte) string {
	k, _ := sniff(h)
	return k
}
