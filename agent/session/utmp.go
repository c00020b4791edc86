package session

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// The glibc utmp record on 64-bit Linux (x86-64, arm64): 384 bytes, little-endian,
// with 32-bit time fields (__WORDSIZE_TIME64_COMPAT32).
const (
	utmpRecordSize = 384

	utmpEmpty        = 0
	utmpRunLevel     = 1
	utmpBootTime     = 2
	utmpNewTime      = 3
	utmpOldTime      = 4
	utmpInitProcess  = 5
	utmpLoginProcess = 6
	utmpUserProcess  = 7
	utmpDeadProcess  = 8
	utmpAccounting   = 9

	// utmpMaxFile bounds what is read: a utmp file has one record per terminal.
	utmpMaxFile = 4 << 20
)

// utmpRecord is the part of a utmp record the watcher uses.
type utmpRecord struct {
	Type int16
	PID  int32
	Line string // device without /dev/, e.g. "pts/5"
	ID   string // inittab id, e.g. "ts/5"
	User string
	Host string
	Time time.Time
}

var errUtmpSize = errors.New("utmp: size is not a multiple of 384 bytes")

// parseUtmp decodes a whole utmp file. A file whose size is not a multiple of the
// record size is refused (a torn write or another format); a record with an
// unknown type or an invalid text field is an error naming its index. Callers
// treat any error as "keep the last good view".
func parseUtmp(b []byte) ([]utmpRecord, error) {
	if len(b) > utmpMaxFile {
		return nil, fmt.Errorf("utmp: file larger than %d bytes", utmpMaxFile)
	}
	if len(b)%utmpRecordSize != 0 {
		return nil, errUtmpSize
	}
	recs := make([]utmpRecord, 0, len(b)/utmpRecordSize)
	for i := 0; i < len(b); i += utmpRecordSize {
		r, err := parseUtmpRecord(b[i : i+utmpRecordSize])
		if err != nil {
			return nil, fmt.Errorf("utmp: record %d: %w", i/utmpRecordSize, err)
		}
		recs = append(recs, r)
	}
	return recs, nil
}

func parseUtmpRecord(b []byte) (utmpRecord, error) {
	le := binary.LittleEndian
	r := utmpRecord{
		Type: int16(le.Uint16(b[0:])),
		PID:  int32(le.Uint32(b[4:])),
	}
	if r.Type < utmpEmpty || r.Type > utmpAccounting {
		return r, fmt.Errorf("unknown type %d", r.Type)
	}
	var err error
	if r.Line, err = cString(b[8:40], "line"); err != nil {
		return r, err
	}
	if r.ID, err = cString(b[40:44], "id"); err != nil {
		return r, err
	}
	if r.User, err = cString(b[44:76], "user"); err != nil {
		return r, err
	}
	if r.Host, err = cString(b[76:332], "host"); err != nil {
		return r, err
	}
	sec, usec := int32(le.Uint32(b[340:])), int32(le.Uint32(b[344:]))
	if usec < 0 || usec >= 1e6 {
		return r, fmt.Errorf("microseconds %d out of range", usec)
	}
	r.Time = time.Unix(int64(sec), int64(usec)*1000).UTC()
	return r, nil
}

// cString reads a NUL-padded field (not necessarily NUL-terminated when full).
func cString(b []byte, field string) (string, error) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%s is not valid UTF-8", field)
	}
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("%s holds a control character", field)
		}
	}
	return string(b), nil
}

// encodeUtmpRecord is parseUtmpRecord's inverse, for tests and fuzz seeds.
func encodeUtmpRecord(r utmpRecord) []byte {
	b := make([]byte, utmpRecordSize)
	le := binary.LittleEndian
	le.PutUint16(b[0:], uint16(r.Type))
	le.PutUint32(b[4:], uint32(r.PID))
	copy(b[8:40], r.Line)
	copy(b[40:44], r.ID)
	copy(b[44:76], r.User)
	copy(b[76:332], r.Host)
	le.PutUint32(b[340:], uint32(int32(r.Time.Unix())))
	le.PutUint32(b[344:], uint32(int32(r.Time.Nanosecond()/1000)))
	return b
}

// utmpSessions returns the open user sessions in recs, keyed by their session id
// ("tty:" + line). A later record for the same line wins, as in the file's
// slot order.
func utmpSessions(recs []utmpRecord) map[string]utmpRecord {
	open := make(map[string]utmpRecord)
	for _, r := range recs {
		if r.Line == "" {
			continue
		}
		id := "tty:" + r.Line
		switch r.Type {
		case utmpUserProcess:
			if r.User != "" {
				open[id] = r
			}
		case utmpDeadProcess, utmpLoginProcess, utmpInitProcess:
			delete(open, id)
		}
	}
	return open
}
