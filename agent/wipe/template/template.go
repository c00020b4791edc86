package template

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
)

// Layout of a template directory.
const (
	ManifestFile = "manifest.json"
	FilesDir     = "files"
)

// Template is a captured profile: its manifest and the directory that holds the
// copies of its files.
type Template struct {
	Dir      string
	Manifest *Manifest
}

// Load reads and validates the template in dir.
func Load(dir string) (*Template, error) {
	data, err := readLimited(filepath.Join(dir, ManifestFile), MaxManifestBytes)
	if err != nil {
		return nil, fmt.Errorf("read template manifest: %w", err)
	}
	m, err := DecodeManifest(data)
	if err != nil {
		return nil, err
	}
	return &Template{Dir: dir, Manifest: m}, nil
}

func readLimited(name string, max int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	return data, nil
}

// Capture copies the tree at from into a new template directory to (which must
// not exist or be empty) and writes its manifest. Entries owned by from's owner
// are recorded as "patron"; others keep their numeric ids.
func Capture(from, to string) (*Template, error) {
	fromInfo, err := os.Lstat(from)
	if err != nil {
		return nil, fmt.Errorf("stat capture source: %w", err)
	}
	if !fromInfo.IsDir() {
		return nil, fmt.Errorf("capture source %s is not a directory", strconv.Quote(from))
	}
	patronUID, patronGID := owner(fromInfo)
	if err := os.MkdirAll(to, 0o700); err != nil {
		return nil, fmt.Errorf("create template directory: %w", err)
	}
	if ents, err := os.ReadDir(to); err != nil {
		return nil, fmt.Errorf("read template directory: %w", err)
	} else if len(ents) > 0 {
		return nil, fmt.Errorf("template directory %s is not empty", strconv.Quote(to))
	}
	dst := filepath.Join(to, FilesDir)
	if err := os.Mkdir(dst, 0o700); err != nil {
		return nil, fmt.Errorf("create template files directory: %w", err)
	}
	m := &Manifest{Version: ManifestVersion}
	err = filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !utf8.ValidString(rel) {
			return fmt.Errorf("name %s is not UTF-8; rename it before capture", strconv.Quote(rel))
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := Entry{Path: rel, Mode: uint32(info.Mode().Perm())}
		if info.Mode()&fs.ModeSticky != 0 {
			e.Mode |= 0o1000
		}
		if info.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			return fmt.Errorf("%s is setuid or setgid; a template may not hold such files", strconv.Quote(rel))
		}
		uid, gid := owner(info)
		e.Owner, e.Group = mapOwner(uid, patronUID), mapOwner(gid, patronGID)
		target := filepath.Join(dst, filepath.FromSlash(rel))
		switch {
		case info.IsDir():
			e.Type = TypeDir
			if rel != "." {
				if err := os.Mkdir(target, 0o700); err != nil {
					return err
				}
			}
		case info.Mode().IsRegular():
			e.Type = TypeFile
			sum, n, err := copyFile(p, target)
			if err != nil {
				return err
			}
			e.Size, e.SHA256 = n, sum
		case info.Mode()&fs.ModeSymlink != 0:
			e.Type = TypeSymlink
			if e.Target, err = os.Readlink(p); err != nil {
				return err
			}
			e.Mode = 0o777
		default:
			return fmt.Errorf("%s is a %v; a template holds directories, files and symlinks only", strconv.Quote(rel), info.Mode().Type())
		}
		m.Entries = append(m.Entries, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("capture template: %w", err)
	}
	sort.SliceStable(m.Entries[1:], func(i, j int) bool { return m.Entries[1+i].Path < m.Entries[1+j].Path })
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		return nil, err
	}
	// Written last and whole: a template directory with a manifest is complete.
	if err := atomicfile.WriteFile(filepath.Join(to, ManifestFile), buf.Bytes(), 0o600); err != nil {
		return nil, fmt.Errorf("write template manifest: %w", err)
	}
	return &Template{Dir: to, Manifest: m}, nil
}

func mapOwner(id, patron int) string {
	if id == patron {
		return OwnerPatron
	}
	return strconv.Itoa(id)
}

func copyFile(from, to string) (string, int64, error) {
	in, err := os.Open(from)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// ErrCorrupt reports a template file whose content does not match its manifest.
var ErrCorrupt = errors.New("template file does not match its manifest")

// Install builds the template's tree inside dst, whose root must be an empty
// directory: it sets the root's mode and owner, then creates every entry with the
// manifest's mode and owner (patron entries get uid/gid). Each file's hash is
// checked while it is copied; a mismatch fails with ErrCorrupt.
func (t *Template) Install(dst *os.Root, uid, gid int) error {
	src, err := os.OpenRoot(filepath.Join(t.Dir, FilesDir))
	if err != nil {
		return fmt.Errorf("open template files: %w", err)
	}
	defer src.Close()
	for _, e := range t.Manifest.Entries {
		if err := t.installEntry(src, dst, e, uid, gid); err != nil {
			return fmt.Errorf("install %s: %w", strconv.Quote(e.Path), err)
		}
	}
	return nil
}

func (t *Template) installEntry(src, dst *os.Root, e Entry, uid, gid int) error {
	mode := fs.FileMode(e.Mode & 0o777)
	if e.Mode&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	o, g := ownerID(e.Owner, uid), ownerID(e.Group, gid)
	switch e.Type {
	case TypeDir:
		if e.Path != "." {
			if err := dst.Mkdir(e.Path, 0o700); err != nil {
				return err
			}
		}
		if err := lchown(dst, e.Path, o, g); err != nil {
			return err
		}
		return dst.Chmod(e.Path, mode)
	case TypeSymlink:
		if err := dst.Symlink(e.Target, e.Path); err != nil {
			return err
		}
		return lchown(dst, e.Path, o, g)
	case TypeFile:
		in, err := src.Open(e.Path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := dst.OpenFile(e.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(in, e.Size+1))
		if err == nil && (n != e.Size || hex.EncodeToString(h.Sum(nil)) != e.SHA256) {
			err = ErrCorrupt
		}
		if err == nil {
			err = fchown(out, o, g)
		}
		if err == nil {
			err = out.Chmod(mode)
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return fmt.Errorf("unknown entry type %s", strconv.Quote(e.Type))
}

// Diff is one way a tree differs from a manifest. Path is quoted with
// strconv.Quote so control and bidi characters and invalid UTF-8 show escaped.
type Diff struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Compare walks the tree in root without following symlinks and lists how it
// differs from the manifest: missing and extra entries, and entries of the wrong
// type, mode, owner, size, content or link target. An empty list means equal.
// uid and gid stand for "patron". At most max diffs are returned (0: no limit).
func (t *Template) Compare(root *os.Root, uid, gid, max int) []Diff {
	var diffs []Diff
	add := func(p, reason string) bool {
		diffs = append(diffs, Diff{Path: strconv.Quote(p), Reason: reason})
		return max > 0 && len(diffs) >= max
	}
	want := make(map[string]*Entry, len(t.Manifest.Entries))
	for i := range t.Manifest.Entries {
		want[t.Manifest.Entries[i].Path] = &t.Manifest.Entries[i]
	}
	seen := make(map[string]bool, len(want))
	var walk func(dir string) bool
	walk = func(dir string) bool {
		f, err := root.Open(dir)
		if err != nil {
			return add(dir, "cannot open directory: "+err.Error())
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			return add(dir, "cannot read directory: "+err.Error())
		}
		sort.Strings(names)
		for _, n := range names {
			p := n
			if dir != "." {
				p = dir + "/" + n
			}
			e, ok := want[p]
			if !ok {
				if add(p, "not in the template") {
					return true
				}
				continue
			}
			seen[p] = true
			info, err := root.Lstat(p)
			if err != nil {
				if add(p, "cannot stat: "+err.Error()) {
					return true
				}
				continue
			}
			if reason := t.check(root, p, e, info, uid, gid); reason != "" {
				if add(p, reason) {
					return true
				}
				continue
			}
			if e.Type == TypeDir && walk(p) {
				return true
			}
		}
		return false
	}
	rootInfo, err := root.Lstat(".")
	if err != nil {
		add(".", "cannot stat: "+err.Error())
		return diffs
	}
	seen["."] = true
	if reason := t.check(root, ".", want["."], rootInfo, uid, gid); reason != "" {
		if add(".", reason) {
			return diffs
		}
	}
	if walk(".") {
		return diffs
	}
	for _, e := range t.Manifest.Entries {
		if !seen[e.Path] && !hasMissingParent(e.Path, seen) {
			if add(e.Path, "missing") {
				return diffs
			}
		}
	}
	return diffs
}

// hasMissingParent avoids listing every child of a missing directory.
func hasMissingParent(p string, seen map[string]bool) bool {
	for d := path.Dir(p); d != "."; d = path.Dir(d) {
		if !seen[d] {
			return true
		}
	}
	return false
}

func (t *Template) check(root *os.Root, p string, e *Entry, info fs.FileInfo, uid, gid int) string {
	var typ string
	switch {
	case info.IsDir():
		typ = TypeDir
	case info.Mode().IsRegular():
		typ = TypeFile
	case info.Mode()&fs.ModeSymlink != 0:
		typ = TypeSymlink
	default:
		typ = info.Mode().Type().String()
	}
	if typ != e.Type {
		return fmt.Sprintf("is a %s, template has a %s", typ, e.Type)
	}
	if r := checkOwnerOf(info, e, uid, gid); r != "" {
		return r
	}
	if typ == TypeSymlink {
		target, err := root.Readlink(p)
		if err != nil {
			return "cannot read link: " + err.Error()
		}
		if target != e.Target {
			return "link target differs"
		}
		return ""
	}
	if got := modeBits(info); got != e.Mode&modeMask {
		return fmt.Sprintf("mode %#o, template has %#o", got, e.Mode&modeMask)
	}
	if typ == TypeFile {
		if info.Size() != e.Size {
			return fmt.Sprintf("size %d, template has %d", info.Size(), e.Size)
		}
		f, err := root.OpenFile(p, os.O_RDONLY|noFollow, 0)
		if err != nil {
			return "cannot open: " + err.Error()
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, io.LimitReader(f, e.Size+1)); err != nil {
			return "cannot read: " + err.Error()
		}
		if hex.EncodeToString(h.Sum(nil)) != e.SHA256 {
			return "content differs"
		}
	}
	return ""
}

func modeBits(info fs.FileInfo) uint32 {
	m := uint32(info.Mode().Perm())
	if info.Mode()&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	if info.Mode()&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if info.Mode()&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	return m & modeMask
}

// HasPrefix reports whether p (slash-separated) is dir or inside it.
func HasPrefix(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}
