package template

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ManifestVersion is the manifest format this build writes and reads.
const ManifestVersion = 1

// Limits on a manifest, checked by DecodeManifest.
const (
	MaxManifestBytes = 64 << 20
	MaxEntries       = 1 << 20
	MaxPathBytes     = 4096
	MaxNameBytes     = 255
)

// Entry types.
const (
	TypeDir     = "dir"
	TypeFile    = "file"
	TypeSymlink = "symlink"
)

// OwnerPatron in Entry.Owner or Entry.Group means "the patron account being
// wiped", whatever its uid or gid.
const OwnerPatron = "patron"

// ErrManifest is wrapped by every manifest decoding or validation error.
var ErrManifest = errors.New("invalid template manifest")

// Manifest describes a template tree. Entries are sorted by path; the first is
// the root "." (the home directory itself).
type Manifest struct {
	Version int     `json:"version"`
	Entries []Entry `json:"entries"`
}

// Entry is one file, directory or symlink of a template.
type Entry struct {
	// Path is slash-separated and relative to the home; "." is the home itself.
	Path string `json:"path"`
	Type string `json:"type"`
	// Mode holds the permission bits and the sticky bit (at most 01777).
	Mode uint32 `json:"mode"`
	// Size and SHA256 (lowercase hex) are set for files only.
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Target is the link text of a symlink (never followed).
	Target string `json:"target,omitempty"`
	// Owner and Group are OwnerPatron or a decimal id.
	Owner string `json:"owner"`
	Group string `json:"group"`
}

// Encode writes m as indented JSON after validating it.
func (m *Manifest) Encode(w io.Writer) error {
	if err := m.Validate(); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	return nil
}

// DecodeManifest strictly parses and validates a manifest: unknown fields,
// trailing data, unsafe paths, duplicate or unsorted entries, orphans, bad modes
// and malformed hashes are refused.
func DecodeManifest(data []byte) (*Manifest, error) {
	if len(data) > MaxManifestBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrManifest, MaxManifestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the manifest", ErrManifest)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks the invariants DecodeManifest promises.
func (m *Manifest) Validate() error {
	bad := func(i int, format string, a ...any) error {
		return fmt.Errorf("%w: entry %d: %s", ErrManifest, i, fmt.Sprintf(format, a...))
	}
	if m.Version != ManifestVersion {
		return fmt.Errorf("%w: version %d (this build reads %d)", ErrManifest, m.Version, ManifestVersion)
	}
	if len(m.Entries) == 0 {
		return fmt.Errorf("%w: no root entry", ErrManifest)
	}
	if len(m.Entries) > MaxEntries {
		return fmt.Errorf("%w: more than %d entries", ErrManifest, MaxEntries)
	}
	dirs := map[string]bool{}
	for i, e := range m.Entries {
		if i == 0 {
			if e.Path != "." || e.Type != TypeDir {
				return bad(i, "the first entry must be the root directory \".\"")
			}
		} else {
			if err := checkPath(e.Path); err != nil {
				return bad(i, "%v", err)
			}
			if e.Path <= m.Entries[i-1].Path && i > 1 {
				return bad(i, "path %s is not sorted after %s", strconv.Quote(e.Path), strconv.Quote(m.Entries[i-1].Path))
			}
			parent := "."
			if j := strings.LastIndexByte(e.Path, '/'); j >= 0 {
				parent = e.Path[:j]
			}
			if !dirs[parent] {
				return bad(i, "parent of %s is not a listed directory", strconv.Quote(e.Path))
			}
		}
		if e.Mode&^0o1777 != 0 {
			return bad(i, "mode %#o has bits outside 01777", e.Mode)
		}
		if err := checkOwner(e.Owner); err != nil {
			return bad(i, "owner: %v", err)
		}
		if err := checkOwner(e.Group); err != nil {
			return bad(i, "group: %v", err)
		}
		switch e.Type {
		case TypeDir:
			dirs[e.Path] = true
			if e.Size != 0 || e.SHA256 != "" || e.Target != "" {
				return bad(i, "directory with size, hash or target")
			}
		case TypeFile:
			if e.Size < 0 {
				return bad(i, "negative size")
			}
			if len(e.SHA256) != 64 || strings.ToLower(e.SHA256) != e.SHA256 {
				return bad(i, "sha256 is not 64 lowercase hex digits")
			}
			if _, err := hex.DecodeString(e.SHA256); err != nil {
				return bad(i, "sha256 is not hex")
			}
			if e.Target != "" {
				return bad(i, "file with a target")
			}
		case TypeSymlink:
			if e.Target == "" || len(e.Target) > MaxPathBytes || strings.IndexByte(e.Target, 0) >= 0 || !utf8.ValidString(e.Target) {
				return bad(i, "symlink target is empty, too long, or not UTF-8")
			}
			if e.Size != 0 || e.SHA256 != "" {
				return bad(i, "symlink with size or hash")
			}
		default:
			return bad(i, "unknown type %s", strconv.Quote(e.Type))
		}
	}
	return nil
}

func checkPath(p string) error {
	if p == "" || len(p) > MaxPathBytes {
		return fmt.Errorf("path is empty or longer than %d bytes", MaxPathBytes)
	}
	if !utf8.ValidString(p) {
		return fmt.Errorf("path %s is not UTF-8", strconv.Quote(p))
	}
	if strings.ContainsAny(p, "\x00\\") {
		return fmt.Errorf("path %s holds NUL or backslash", strconv.Quote(p))
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." || len(c) > MaxNameBytes {
			return fmt.Errorf("path %s has an empty, dot, dot-dot or overlong component", strconv.Quote(p))
		}
	}
	return nil
}

func checkOwner(s string) error {
	if s == OwnerPatron {
		return nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || strconv.FormatUint(n, 10) != s {
		return fmt.Errorf("%s is neither %q nor a decimal id", strconv.Quote(s), OwnerPatron)
	}
	return nil
}

// ownerID maps a manifest owner to a numeric id; patron maps to patronID.
func ownerID(s string, patronID int) int {
	if s == OwnerPatron {
		return patronID
	}
	n, _ := strconv.Atoi(s)
	return n
}
