package classify

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// oleInfo is what the directory of a compound file (MS-CFB) says it holds.
type oleInfo struct {
	installer string // non-empty for Windows Installer files: what it is
	office    string // "doc", "xls", "ppt", "vsd", "pub" for legacy Office documents
	macros    bool   // a VBA storage is present
	native    bool   // an Ole10Native stream (an embedded package: any file, a program too)
	encrypted bool   // an encrypted OOXML package (EncryptedPackage)
	mail      bool   // an Outlook .msg
	project   bool   // a PROJECT stream (VBA project properties)
	names     []string
}

// vbaProject reports a bare VBA project (an OOXML vbaProject.bin).
func (i oleInfo) vbaProject() bool { return i.macros && i.project }

func (i oleInfo) sample() string {
	var q []string
	for _, n := range i.names {
		if n == "Root Entry" {
			continue
		}
		q = append(q, `"`+quote(n)+`"`)
		if len(q) == 3 {
			break
		}
	}
	return "streams " + strings.Join(q, ", ")
}

const (
	oleEndOfChain = 0xFFFFFFFE
	oleFree       = 0xFFFFFFFF
	oleMaxDirEnts = 1 << 16
)

var (
	clsidMSI = [16]byte{0x84, 0x10, 0x0c, 0x00, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46}
	clsidMSP = [16]byte{0x86, 0x10, 0x0c, 0x00, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46}
	clsidMST = [16]byte{0x82, 0x10, 0x0c, 0x00, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46}
)

var errOLE = errors.New("malformed compound file")

// readOLE reads the header, the FAT sectors it needs and the directory chain
// of a compound file. Every chain is bounded by the file's sector count, so
// a loop or a lie ends in an error, never a hang.
func readOLE(r io.ReaderAt, size int64) (oleInfo, error) {
	var info oleInfo
	var hdr [512]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return info, fmt.Errorf("read header: %w", err)
	}
	le := binary.LittleEndian
	if le.Uint16(hdr[0x1c:]) != 0xfffe {
		return info, fmt.Errorf("byte order mark: %w", errOLE)
	}
	shift := le.Uint16(hdr[0x1e:])
	if shift != 9 && shift != 12 {
		return info, fmt.Errorf("sector shift %d: %w", shift, errOLE)
	}
	ss := int64(1) << shift
	maxSect := uint32(size / ss)
	sector := func(s uint32, buf []byte) error {
		if s >= maxSect {
			return fmt.Errorf("sector %d past the end: %w", s, errOLE)
		}
		_, err := r.ReadAt(buf, (int64(s)+1)*ss)
		if err == io.EOF {
			err = fmt.Errorf("short sector %d: %w", s, errOLE)
		}
		return err
	}

	// The FAT's own sectors: 109 in the header, the rest in the DIFAT chain.
	var fatSects []uint32
	for i := 0; i < 109; i++ {
		s := le.Uint32(hdr[0x4c+4*i:])
		if s == oleFree || s == oleEndOfChain {
			break
		}
		fatSects = append(fatSects, s)
	}
	buf := make([]byte, ss)
	per := uint32(ss / 4)
	for s, n := le.Uint32(hdr[0x44:]), uint32(0); s != oleEndOfChain && s != oleFree; n++ {
		if n > maxSect || n >= le.Uint32(hdr[0x48:])+1 {
			return info, fmt.Errorf("DIFAT chain too long: %w", errOLE)
		}
		if err := sector(s, buf); err != nil {
			return info, err
		}
		for i := uint32(0); i < per-1; i++ {
			v := le.Uint32(buf[4*i:])
			if v == oleFree || v == oleEndOfChain {
				continue
			}
			fatSects = append(fatSects, v)
		}
		s = le.Uint32(buf[4*(per-1):])
	}
	fatCache := map[uint32][]byte{}
	next := func(s uint32) (uint32, error) {
		idx := s / per
		if int(idx) >= len(fatSects) {
			return 0, fmt.Errorf("FAT entry %d missing: %w", s, errOLE)
		}
		b, ok := fatCache[idx]
		if !ok {
			b = make([]byte, ss)
			if err := sector(fatSects[idx], b); err != nil {
				return 0, err
			}
			fatCache[idx] = b
		}
		return le.Uint32(b[4*(s%per):]), nil
	}

	seen := 0
	for s, n := le.Uint32(hdr[0x30:]), uint32(0); s != oleEndOfChain; n++ {
		if n > maxSect {
			return info, fmt.Errorf("directory chain loops: %w", errOLE)
		}
		if err := sector(s, buf); err != nil {
			return info, err
		}
		for off := int64(0); off+128 <= ss; off += 128 {
			e := buf[off : off+128]
			typ := e[0x42]
			nl := int(le.Uint16(e[0x40:]))
			if typ == 0 || nl < 2 || nl > 64 || nl%2 != 0 {
				continue
			}
			seen++
			if seen > oleMaxDirEnts {
				return info, fmt.Errorf("too many directory entries: %w", errOLE)
			}
			u := make([]uint16, (nl-2)/2)
			for i := range u {
				u[i] = le.Uint16(e[2*i:])
			}
			name := string(utf16.Decode(u))
			info.note(name, typ, [16]byte(e[0x50:0x60]))
		}
		var err error
		if s, err = next(s); err != nil {
			return info, err
		}
	}
	if seen == 0 {
		return info, fmt.Errorf("empty directory: %w", errOLE)
	}
	return info, nil
}

// note records what one directory entry says.
func (i *oleInfo) note(name string, typ byte, clsid [16]byte) {
	if len(i.names) < 8 {
		i.names = append(i.names, name)
	}
	if typ == 5 { // root storage
		switch clsid {
		case clsidMSI:
			i.installer = "Windows Installer package (MSI)"
		case clsidMSP:
			i.installer = "Windows Installer patch (MSP)"
		case clsidMST:
			i.installer = "Windows Installer transform (MST)"
		}
	}
	for _, r := range name {
		if r >= 0x3800 && r <= 0x4840 && i.installer == "" {
			// MSI encodes its table and stream names in this range.
			i.installer = "Windows Installer database"
		}
	}
	switch l := strings.ToLower(name); {
	case l == "worddocument":
		i.office = "doc"
	case l == "workbook" || l == "book":
		i.office = "xls"
	case l == "powerpoint document":
		i.office = "ppt"
	case l == "visiodocument":
		i.office = "vsd"
	case l == "quill":
		i.office = "pub"
	case l == "macros" || l == "_vba_project_cur" || l == "vba" || l == "_vba_project":
		i.macros = true
	case l == "project":
		i.project = true
	case l == "\x01ole10native":
		i.native = true
	case l == "encryptedpackage":
		i.encrypted = true
	case l == "__properties_version1.0" || strings.HasPrefix(l, "__substg1.0_"):
		i.mail = true
	}
}
