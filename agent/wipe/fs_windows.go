//go:build windows

package wipe

// Tested under Wine 8 only (2026-11): see doc.go for what ran there and what
// has only been compiled.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf16"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

var systemDrive = func() string {
	if d := os.Getenv("SystemDrive"); d != "" {
		return d
	}
	return "C:"
}()

var programData = func() string {
	if d := os.Getenv("ProgramData"); d != "" {
		return d
	}
	return systemDrive + `\ProgramData`
}()

var systemRoot = func() string {
	if d := os.Getenv("SystemRoot"); d != "" {
		return d
	}
	return systemDrive + `\Windows`
}()

// The patron's own temp dir (AppData\Local\Temp) is in the profile. Shared
// temp locations: the system temp dir (installers and services write there for
// the patron) and the system drive's recycle bin (one folder per SID; other
// drives' bins are listed by hand). Both are cleared of the patron's entries
// only. The agent's directories are under %ProgramData%\Carrel.
var defaults = osDefaults{
	template:  programData + `\Carrel\template`,
	journal:   programData + `\Carrel\wipe`,
	temp:      []string{systemRoot + `\Temp`, systemDrive + `\$Recycle.Bin`},
	spool:     []string{},
	protected: []string{programData + `\Carrel`},
}

// systemDirs may never be a profile nor hold one. Windows paths compare without
// case, the guards compare strings: the entries are spelled as on the disk,
// which is how filepath.EvalSymlinks spells the home the guards compare.
var systemDirs = diskCase(uniq(systemDrive+`\Windows`, systemRoot, systemDrive+`\Program Files`,
	systemDrive+`\Program Files (x86)`, systemDrive+`\ProgramData`, programData, systemDrive+`\Users\Default`,
	systemDrive+`\Users\Public`, systemDrive+`\Users\All Users`))

// systemExact may hold profiles but are never one.
var systemExact = diskCase([]string{systemDrive + `\Users`})

func uniq(ps ...string) []string {
	var out []string
	for _, p := range ps {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// diskCase adds, for each existing path whose on-disk spelling differs only in
// case, that spelling.
func diskCase(ps []string) []string {
	out := slices.Clone(ps)
	for _, p := range ps {
		if real, err := filepath.EvalSymlinks(p); err == nil && real != p && strings.EqualFold(real, p) && !slices.Contains(out, real) {
			out = append(out, real)
		}
	}
	return out
}

func isVolumeRoot(p string) bool {
	v := filepath.VolumeName(p)
	return v != "" && (p == v || p == v+`\`)
}

// fileOwner: owners are SIDs on Windows and a FileInfo does not carry one, so
// the guards' owner checks (home owned by the patron, parents owned by root,
// trash owned by root) do not run on Windows (2026-11). The trash is instead
// made SYSTEM-and-Administrators-only by restrictDir, and the profile path
// comes from the account's own ProfileList entry.
func fileOwner(fs.FileInfo) (uid, gid int, ok bool) { return 0, 0, false }

var errNotSameFS = errors.New("profile cannot be renamed into the trash")

func renameAside(from, to string) error {
	f, err := windows.UTF16PtrFromString(from)
	if err != nil {
		return err
	}
	t, err := windows.UTF16PtrFromString(to)
	if err != nil {
		return err
	}
	// no MOVEFILE_COPY_ALLOWED: a move to another volume must fail, not copy;
	// write-through: the journal records the move as done once this returns
	err = windows.MoveFileEx(f, t, windows.MOVEFILE_WRITE_THROUGH)
	if errors.Is(err, windows.ERROR_NOT_SAME_DEVICE) {
		return fmt.Errorf("rename profile aside: %w: %v", errNotSameFS, err)
	}
	if err != nil {
		return fmt.Errorf("rename profile aside: %w", err)
	}
	return nil
}

// ProfileDir reads a profile's directory from the registry ProfileList.
func ProfileDir(sid string) (string, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList\`+sid, registry.QUERY_VALUE)
	if err != nil {
		return "", fmt.Errorf("open ProfileList entry: %w", err)
	}
	defer k.Close()
	p, _, err := k.GetStringValue("ProfileImagePath")
	if err != nil {
		return "", fmt.Errorf("read ProfileImagePath: %w", err)
	}
	return registry.ExpandString(p)
}

// purgeTree on Windows: every entry is opened relative to its parent's handle
// (NtCreateFile with RootDirectory) with FILE_OPEN_REPARSE_POINT, so junctions,
// symlinks and volume mount points are opened (and deleted) themselves and never
// traversed; directories are listed through their handle; deletion is by handle
// (FileDispositionInfoEx with POSIX semantics and ignore-read-only, so the
// read-only attribute of a file is never changed). With o.onlyUID >= 0 only
// entries whose owner (GetSecurityInfo on the open handle, never a second lookup
// by name) is the SID of that RID in this computer's account domain are
// removed; directories of others are walked and kept. o.chmodUID is ignored:
// nothing is ever given wider access.
func purgeTree(ctx context.Context, dir string, o purgeOpts) purgeResult {
	var res purgeResult
	q := strconv.Quote(dir)
	w := &winPurger{ctx: ctx, o: o, res: &res}
	// with backup intent these open what the patron's DACLs close to the agent
	// (LocalSystem holds both); without them what cannot be opened is reported
	_ = enablePrivilege("SeBackupPrivilege")
	_ = enablePrivilege("SeRestorePrivilege")
	if o.onlyUID >= 0 {
		sid, err := sidOfUID(o.onlyUID)
		if err != nil {
			res.leftover(o.maxLeft, q, "owner-selective clearing: "+err.Error())
			return res
		}
		w.only = sid
	}
	p16, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		res.leftover(o.maxLeft, q, err.Error())
		return res
	}
	h, err := windows.CreateFile(p16, windows.FILE_LIST_DIRECTORY|windows.DELETE|windows.SYNCHRONIZE|windows.FILE_READ_ATTRIBUTES|windows.READ_CONTROL,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) || errors.Is(err, windows.ERROR_PATH_NOT_FOUND) {
		return res
	}
	if err != nil {
		res.leftover(o.maxLeft, q, "cannot open: "+err.Error())
		return res
	}
	defer windows.CloseHandle(h)
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		res.leftover(o.maxLeft, q, "cannot stat: "+err.Error())
		return res
	}
	if info.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0 || info.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY == 0 {
		res.leftover(o.maxLeft, q, "not a plain directory: not purged")
		return res
	}
	owned, err := w.owned(h)
	if err != nil {
		res.leftover(o.maxLeft, q, "cannot read owner: "+err.Error())
		return res
	}
	empty, keptOthers := w.emptyDir(h, dir, 0)
	switch {
	case o.keepRoot || !owned || o.dryRun:
	case keptOthers:
		res.leftover(o.maxLeft, q, "directory of the patron holds entries of others")
	case empty:
		if err := deleteByHandle(h); err != nil {
			res.leftover(o.maxLeft, q, "cannot remove directory: "+err.Error())
		} else {
			res.Dirs++
		}
	}
	return res
}

type winPurger struct {
	ctx  context.Context
	o    purgeOpts
	only *windows.SID // remove only entries this SID owns (nil: everything)
	res  *purgeResult
}

// owned reports whether the open entry h may be removed.
func (w *winPurger) owned(h windows.Handle) (bool, error) {
	if w.only == nil {
		return true, nil
	}
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return false, err
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return false, err
	}
	return owner != nil && owner.Equals(w.only), nil
}

// maxWinDepth bounds recursion (each level holds one handle).
const maxWinDepth = 4096

// entryResult is what became of one directory entry.
type entryResult int

const (
	removed entryResult = iota // removed (or gone already)
	kept                       // not the patron's: left alone, not an error
	left                       // could not be removed (a leftover is recorded)
)

// emptyDir removes what it may from the open directory h. empty says the
// directory is now empty; keptOthers that entries of others were left in it.
func (w *winPurger) emptyDir(h windows.Handle, display string, depth int) (empty, keptOthers bool) {
	if depth > maxWinDepth {
		w.res.leftover(w.o.maxLeft, strconv.Quote(display), "deeper than the purge follows")
		return false, false
	}
	for pass := 0; ; pass++ {
		ents, err := listDir(h)
		if err != nil {
			w.res.leftover(w.o.maxLeft, strconv.Quote(display), "cannot read directory: "+err.Error())
			return false, false
		}
		if len(ents) == 0 {
			return true, false
		}
		if pass > w.o.retries {
			w.res.leftover(w.o.maxLeft, strconv.Quote(display), fmt.Sprintf("refilled while purged: not empty after %d passes", pass))
			return false, false
		}
		failed := false
		for _, e := range ents {
			if w.ctx.Err() != nil {
				w.res.leftover(w.o.maxLeft, strconv.Quote(display), "purge interrupted")
				return false, keptOthers
			}
			switch w.entry(h, display+`\`+e.name, e, depth) {
			case kept:
				keptOthers = true
			case left:
				failed = true
			}
		}
		if failed || keptOthers || w.o.dryRun {
			return false, keptOthers
		}
	}
}

func (w *winPurger) entry(parent windows.Handle, display string, e dirEntry, depth int) entryResult {
	q := strconv.Quote(display)
	if w.o.dryRun && w.only == nil {
		w.res.leftover(w.o.maxLeft, q, "present")
		return left
	}
	isDir := e.attrs&windows.FILE_ATTRIBUTE_DIRECTORY != 0 && e.attrs&windows.FILE_ATTRIBUTE_REPARSE_POINT == 0
	h, err := openRelative(parent, e.name, isDir)
	if errors.Is(err, windows.STATUS_OBJECT_NAME_NOT_FOUND) || errors.Is(err, windows.STATUS_OBJECT_PATH_NOT_FOUND) {
		return removed // removed by someone else since it was listed
	}
	if err != nil {
		w.res.leftover(w.o.maxLeft, q, "cannot open: "+err.Error())
		return left
	}
	defer windows.CloseHandle(h)
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		w.res.leftover(w.o.maxLeft, q, "cannot stat: "+err.Error())
		return left
	}
	owned, err := w.owned(h)
	if err != nil {
		w.res.leftover(w.o.maxLeft, q, "cannot read owner: "+err.Error())
		return left
	}
	reparse := info.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0
	if info.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY != 0 && !reparse {
		if !isDir {
			// listed as something else, opened as a directory: it was replaced
			w.res.leftover(w.o.maxLeft, q, "changed type while purged")
			return left
		}
		if w.o.dryRun && owned {
			w.res.leftover(w.o.maxLeft, q, "directory owned by the patron")
			return left
		}
		empty, keptOthers := w.emptyDir(h, display, depth+1)
		switch {
		case !owned:
			return kept
		case keptOthers:
			w.res.leftover(w.o.maxLeft, q, "directory of the patron holds entries of others")
			return left
		case !empty:
			return left
		}
		if err := deleteByHandle(h); err != nil {
			w.res.leftover(w.o.maxLeft, q, "cannot remove directory: "+err.Error())
			return left
		}
		w.res.Dirs++
		return removed
	}
	// a file, or a reparse point (symlink, junction, mount point) removed itself
	if !owned {
		return kept
	}
	if w.o.dryRun {
		w.res.leftover(w.o.maxLeft, q, "owned by the patron")
		return left
	}
	if err := deleteByHandle(h); err != nil {
		w.res.leftover(w.o.maxLeft, q, "cannot remove: "+err.Error())
		return left
	}
	w.res.Files++
	if !reparse {
		w.res.Bytes += int64(info.FileSizeHigh)<<32 | int64(info.FileSizeLow)
	}
	return removed
}

func openRelative(parent windows.Handle, name string, dir bool) (windows.Handle, error) {
	access := uint32(windows.DELETE | windows.READ_CONTROL)
	if dir {
		access |= windows.FILE_LIST_DIRECTORY
	}
	return openRelativeFor(parent, name, access)
}

// openRelativeFor opens name inside the directory parent for access (plus
// SYNCHRONIZE and FILE_READ_ATTRIBUTES), never following a reparse point.
func openRelativeFor(parent windows.Handle, name string, access uint32) (windows.Handle, error) {
	us, err := windows.NewNTUnicodeString(name)
	if err != nil {
		return 0, err
	}
	oa := &windows.OBJECT_ATTRIBUTES{RootDirectory: parent, ObjectName: us}
	oa.Length = uint32(unsafe.Sizeof(*oa))
	opts := uint32(windows.FILE_OPEN_REPARSE_POINT | windows.FILE_SYNCHRONOUS_IO_NONALERT | windows.FILE_OPEN_FOR_BACKUP_INTENT)
	access |= windows.SYNCHRONIZE | windows.FILE_READ_ATTRIBUTES
	var h windows.Handle
	var iosb windows.IO_STATUS_BLOCK
	err = windows.NtCreateFile(&h, access, oa, &iosb, nil, 0,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, windows.FILE_OPEN, opts, 0, 0)
	if err != nil {
		return 0, err
	}
	return h, nil
}

// fileDispositionInfoEx is FILE_DISPOSITION_INFO_EX.
type fileDispositionInfoEx struct{ Flags uint32 }

// dispositionExMissing is set once FileDispositionInfoEx is refused (Windows
// before 10 1809, and Wine 8): deletion then falls back to FileDispositionInfo,
// which cannot ignore the read-only attribute, so a read-only file is reported
// as a leftover rather than having its attribute changed.
var dispositionExMissing atomic.Bool

func deleteByHandle(h windows.Handle) error {
	if !dispositionExMissing.Load() {
		info := fileDispositionInfoEx{Flags: windows.FILE_DISPOSITION_DELETE | windows.FILE_DISPOSITION_POSIX_SEMANTICS |
			windows.FILE_DISPOSITION_IGNORE_READONLY_ATTRIBUTE}
		err := windows.SetFileInformationByHandle(h, windows.FileDispositionInfoEx, (*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)))
		if !errors.Is(err, windows.ERROR_INVALID_PARAMETER) && !errors.Is(err, windows.ERROR_NOT_SUPPORTED) && !errors.Is(err, windows.ERROR_INVALID_FUNCTION) {
			return err
		}
		dispositionExMissing.Store(true)
	}
	del := uint32(1) // FILE_DISPOSITION_INFO{DeleteFile: TRUE}
	return windows.SetFileInformationByHandle(h, windows.FileDispositionInfo, (*byte)(unsafe.Pointer(&del)), 1)
}

type dirEntry struct {
	name  string
	attrs uint32
}

// listDir reads a directory through its handle (FILE_FULL_DIR_INFO records).
func listDir(h windows.Handle) ([]dirEntry, error) {
	buf := make([]byte, 64<<10)
	class := uint32(windows.FileFullDirectoryRestartInfo)
	var out []dirEntry
	for {
		err := windows.GetFileInformationByHandleEx(h, class, &buf[0], uint32(len(buf)))
		if errors.Is(err, windows.ERROR_NO_MORE_FILES) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		class = windows.FileFullDirectoryInfo
		for off := 0; ; {
			rec := buf[off:]
			if len(rec) < 68 {
				return nil, errors.New("short directory record")
			}
			next := *(*uint32)(unsafe.Pointer(&rec[0]))
			attrs := *(*uint32)(unsafe.Pointer(&rec[56]))
			nameLen := int(*(*uint32)(unsafe.Pointer(&rec[60])))
			if 68+nameLen > len(rec) {
				return nil, errors.New("bad directory record")
			}
			u := make([]uint16, nameLen/2)
			for i := range u {
				u[i] = *(*uint16)(unsafe.Pointer(&rec[68+2*i]))
			}
			name := string(utf16.Decode(u))
			if name != "." && name != ".." && !strings.ContainsAny(name, `\/`) {
				out = append(out, dirEntry{name: name, attrs: attrs})
			}
			if next == 0 {
				break
			}
			off += int(next)
		}
	}
}

// No print queue on Windows yet (2026-11): print jobs of the patron stay in
// the spooler.
func newPrintQueue() PrintQueue { return nil }
