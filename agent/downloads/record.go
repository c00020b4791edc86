package downloads

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// Record describes one quarantined file. It is stored as one JSON file per
// record in the quarantine's records directory.
type Record struct {
	// ID names the record: 32 lowercase hex digits.
	ID string `json:"id"`
	// SHA256 is the content hash (64 lowercase hex digits) and the blob's name.
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// OriginalPath is where the file was found and where Release puts it back.
	OriginalPath string `json:"original_path"`
	// UID and GID owned the file; -1 where the OS has no such notion.
	UID int `json:"uid"`
	GID int `json:"gid"`
	// Mode holds the permission bits (0 to 0777) the file had.
	Mode uint32 `json:"mode"`
	// Reason is the classifier's reason for blocking it.
	Reason string `json:"reason"`
	// Kind is the classifier's idea of the content (e.g. "pe"), if any.
	Kind string    `json:"kind,omitempty"`
	Time time.Time `json:"time"`
}

// maxRecord is the largest record file DecodeRecord reads.
const maxRecord = 16 << 10

// ErrBadRecord matches every error DecodeRecord returns for a malformed record.
var ErrBadRecord = errors.New("bad quarantine record")

func badRecord(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRecord, fmt.Sprintf(format, a...))
}

// DecodeRecord parses and validates one record file. The quarantine directory
// is private to the service, but a record is still read as outside input: it
// names a path Release writes to.
func DecodeRecord(data []byte) (Record, error) {
	var r Record
	if len(data) > maxRecord {
		return r, badRecord("larger than %d bytes", maxRecord)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Record{}, badRecord("%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Record{}, badRecord("trailing data after the record")
	}
	if err := r.validate(); err != nil {
		return Record{}, err
	}
	return r, nil
}

func (r *Record) validate() error {
	if !isHex(r.ID, 32) {
		return badRecord("id %q is not 32 hex digits", r.ID)
	}
	if !isHex(r.SHA256, 64) {
		return badRecord("sha256 is not 64 hex digits")
	}
	if r.Size < 0 {
		return badRecord("negative size")
	}
	p := r.OriginalPath
	if p == "" || !utf8.ValidString(p) || strings.ContainsRune(p, 0) || len(p) > 4096 {
		return badRecord("original_path is empty, too long or not valid text")
	}
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return badRecord("original_path %q is not a clean absolute path", p)
	}
	if r.UID < -1 || r.GID < -1 {
		return badRecord("uid or gid below -1")
	}
	if r.Mode > 0o777 {
		return badRecord("mode %o has bits beyond 0777", r.Mode)
	}
	if len(r.Reason) > 2048 || !utf8.ValidString(r.Reason) {
		return badRecord("reason too long or not valid text")
	}
	if len(r.Kind) > 255 || !utf8.ValidString(r.Kind) {
		return badRecord("kind too long or not valid text")
	}
	if r.Time.IsZero() {
		return badRecord("time is missing")
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
