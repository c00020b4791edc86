package downloads

import (
	"encoding/binary"
	"testing"
	"unicode/utf16"
)

// rdcwEntry builds one FILE_NOTIFY_INFORMATION entry, padded to 4 bytes.
func rdcwEntry(action uint32, name string, last bool) []byte {
	u := utf16.Encode([]rune(name))
	size := (12 + 2*len(u) + 3) &^ 3
	b := make([]byte, size)
	if !last {
		binary.LittleEndian.PutUint32(b[0:], uint32(size))
	}
	binary.LittleEndian.PutUint32(b[4:], action)
	binary.LittleEndian.PutUint32(b[8:], uint32(2*len(u)))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[12+2*i:], c)
	}
	return b
}

func TestParseRDCW(t *testing.T) {
	buf := append(rdcwEntry(fileActionRenamedOld, `Downloads\setup.exe.crdownload`, false),
		rdcwEntry(fileActionRenamedNew, `Downloads\setup.exe`, false)...)
	buf = append(buf, rdcwEntry(fileActionModified, `Bürger\ファイル.pdf`, true)...)
	var got []rdcwRecord
	parseRDCW(buf, func(r rdcwRecord) bool { got = append(got, r); return true })
	want := []rdcwRecord{{fileActionRenamedOld, `Downloads\setup.exe.crdownload`}, {fileActionRenamedNew, `Downloads\setup.exe`}, {fileActionModified, `Bürger\ファイル.pdf`}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// A name longer than the buffer, and an offset pointing back, end the parse.
	bad := rdcwEntry(fileActionAdded, "x", true)
	binary.LittleEndian.PutUint32(bad[8:], 1000)
	parseRDCW(bad, func(r rdcwRecord) bool { t.Errorf("parsed %+v", r); return true })
	loop := rdcwEntry(fileActionAdded, "x", true)
	binary.LittleEndian.PutUint32(loop[0:], 0xFFFFFFF0)
	n := 0
	parseRDCW(loop, func(rdcwRecord) bool { n++; return true })
	if n != 1 {
		t.Errorf("parsed %d entries from a self-referencing buffer, want 1", n)
	}
}

// FuzzParseRDCW: no buffer makes the parser panic, loop or read past its end.
func FuzzParseRDCW(f *testing.F) {
	f.Add(rdcwEntry(fileActionAdded, `a\b.exe`, true))
	f.Add(append(rdcwEntry(fileActionRenamedOld, "x.part", false), rdcwEntry(fileActionRenamedNew, "x", true)...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, buf []byte) {
		n := 0
		parseRDCW(buf, func(r rdcwRecord) bool {
			n++
			if n > len(buf)/12+1 {
				t.Fatalf("more entries (%d) than the buffer can hold", n)
			}
			return true
		})
	})
}
