package downloads

import (
	"encoding/binary"
	"unicode/utf16"
)

// rdcwRecord is one FILE_NOTIFY_INFORMATION entry of a ReadDirectoryChangesW
// buffer: an action and a name relative to the watched directory.
type rdcwRecord struct {
	action uint32
	name   string
}

// FILE_ACTION_* values (winnt.h), kept here so the parser builds and is
// fuzzed on every OS.
const (
	fileActionAdded      = 1
	fileActionRemoved    = 2
	fileActionModified   = 3
	fileActionRenamedOld = 4
	fileActionRenamedNew = 5
)

// parseRDCW walks a ReadDirectoryChangesW buffer (little-endian
// FILE_NOTIFY_INFORMATION entries chained by NextEntryOffset). An entry that
// points outside the buffer, backwards, or whose name overruns it ends the
// parse.
func parseRDCW(buf []byte, each func(rdcwRecord) bool) {
	const head = 12 // NextEntryOffset, Action, FileNameLength
	for off := 0; off+head <= len(buf); {
		next := int(binary.LittleEndian.Uint32(buf[off:]))
		action := binary.LittleEndian.Uint32(buf[off+4:])
		n := int(binary.LittleEndian.Uint32(buf[off+8:]))
		if n < 0 || n%2 != 0 || n > len(buf)-off-head {
			return
		}
		u := make([]uint16, n/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(buf[off+head+2*i:])
		}
		if !each(rdcwRecord{action: action, name: string(utf16.Decode(u))}) {
			return
		}
		if next <= 0 || next > len(buf)-off {
			return
		}
		off += next
	}
}
