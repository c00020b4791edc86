//go:build windows

package wipe

// UNTESTED ON WINDOWS (2026-11): this file compiles and vets but has not run on
// Windows nor under Wine yet.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// Windows keeps temp files in the profile (AppData\Local\Temp): no shared temp
// dirs by default. The agent's directories are under %ProgramData%\Carrel.
var defaults = osDefaults{
	template:  programData + `\Carrel\template`,
	journal:   programData + `\Carrel\wipe`,
	temp:      []string{},
	spool:     []string{},
	protected: []string{programData + `\Carrel`},
}

// systemDirs may never be a profile nor hold one.
var systemDirs = []string{systemDrive + `\Windows`, systemDrive + `\Program Files`,
	systemDrive + `\Program Files (x86)`, systemDrive + `\ProgramData`, systemDrive + `\Users\Default`,
	systemDrive + `\Users\Public`, systemDrive + `\Users\All Users`}

// systemExact may hold profiles but are never one.
var systemExact = []string{systemDrive + `\Users`}

func isVolumeRoot(p string) bool {
	v := filepath.VolumeName(p)
	return v != "" && (p == v || p == v+`\`)
}

// fileOwner: owners are SIDs on Windows and are not compared (2026-11).
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
	// no MOVEFILE_COPY_ALLOWED: a move to another volume must fail, not copy
	err = windows.MoveFileEx(f, t, 0)
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
// read-only attribute of a file is never changed).
func purgeTree(ctx context.Context, dir string, o purgeOpts) purgeResult {
	var res purgeResult
	q := strconv.Quote(dir)
	if o.onlyUID >= 0 {
		res.leftover(o.maxLeft, q, "owner-selective clearing: "+ErrNotImplemented.Error())
		return res
	}
	p16, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		res.leftover(o.maxLeft, q, err.Error())
		return res
	}
	h, err := windows.CreateFile(p16, windows.FILE_LIST_DIRECTORY|windows.DELETE|windows.SYNCHRONIZE|windows.FILE_READ_ATTRIBUTES,
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
	w := &winPurger{ctx: ctx, o: o, res: &res}
	w.emptyDir(h, dir, 0)
	if !o.keepRoot && !o.dryRun && len(res.Leftovers) == 0 {
		if err := deleteByHandle(h); err != nil {
			res.leftover(o.maxLeft, q, "cannot remove directory: "+err.Error())
		} else {
			res.Dirs++
		}
	}
	return res
}

type winPurger struct {
	ctx context.Context
	o   purgeOpts
	res *purgeResult
}

// maxWinDepth bounds recursion (each level holds one handle).
const maxWinDepth = 4096

func (w *winPurger) emptyDir(h windows.Handle, display string, depth int) bool {
	if depth > maxWinDepth {
		w.res.leftover(w.o.maxLeft, strconv.Quote(display), "deeper than the purge follows")
		return false
	}
	clean := true
	for pass := 0; ; pass++ {
		ents, err := listDir(h)
		if err != nil {
			w.res.leftover(w.o.maxLeft, strconv.Quote(display), "cannot read directory: "+err.Error())
			return false
		}
		if len(ents) == 0 {
			return clean
		}
		if pass > w.o.retries {
			w.res.leftover(w.o.maxLeft, strconv.Quote(display), "refilled while purged")
			return false
		}
		for _, e := range ents {
			if w.ctx.Err() != nil {
				w.res.leftover(w.o.maxLeft, strconv.Quote(display), "purge interrupted")
				return false
			}
			if !w.entry(h, display+`\`+e.name, e, depth) {
				clean = false
			}
		}
		if !clean || w.o.dryRun {
			return clean
		}
	}
}

func (w *winPurger) entry(parent windows.Handle, display string, e dirEntry, depth int) bool {
	q := strconv.Quote(display)
	if w.o.dryRun {
		w.res.leftover(w.o.maxLeft, q, "present")
		return false
	}
	isDir := e.attrs&windows.FILE_ATTRIBUTE_DIRECTORY != 0 && e.attrs&windows.FILE_ATTRIBUTE_REPARSE_POINT == 0
	h, err := openRelative(parent, e.name, isDir)
	if err != nil {
		w.res.leftover(w.o.maxLeft, q, "cannot open: "+err.Error())
		return false
	}
	defer windows.CloseHandle(h)
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		w.res.leftover(w.o.maxLeft, q, "cannot stat: "+err.Error())
		return false
	}
	reparse := info.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0
	if info.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY != 0 && !reparse {
		if !w.emptyDir(h, display, depth+1) {
			return false
		}
		if err := deleteByHandle(h); err != nil {
			w.res.leftover(w.o.maxLeft, q, "cannot remove directory: "+err.Error())
			return false
		}
		w.res.Dirs++
		return true
	}
	// a file, or a reparse point (symlink, junction, mount point) removed itself
	if err := deleteByHandle(h); err != nil {
		w.res.leftover(w.o.maxLeft, q, "cannot remove: "+err.Error())
		return false
	}
	w.res.Files++
	if !reparse {
		w.res.Bytes += int64(info.FileSizeHigh)<<32 | int64(info.FileSizeLow)
	}
	return true
}

func openRelative(parent windows.Handle, name string, dir bool) (windows.Handle, error) {
	us, err := windows.NewNTUnicodeString(name)
	if err != nil {
		return 0, err
	}
	oa := &windows.OBJECT_ATTRIBUTES{RootDirectory: parent, ObjectName: us}
	oa.Length = uint32(unsafe.Sizeof(*oa))
	opts := uint32(windows.FILE_OPEN_REPARSE_POINT | windows.FILE_SYNCHRONOUS_IO_NONALERT | windows.FILE_OPEN_FOR_BACKUP_INTENT)
	access := uint32(windows.DELETE | windows.SYNCHRONIZE | windows.FILE_READ_ATTRIBUTES)
	if dir {
		access |= windows.FILE_LIST_DIRECTORY
	}
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

// The logon gate, process killer and user lookup have no Windows
// implementation yet (2026-11): NetUserSetInfo (UF_ACCOUNTDISABLE), WTS/gopsutil
// and LookupAccountName are the planned pieces.
type notImplemented struct{}

func (notImplemented) Hold(context.Context, string) error    { return ErrNotImplemented }
func (notImplemented) Release(context.Context, string) error { return ErrNotImplemented }
func (notImplemented) KillAll(context.Context, int) (int, error) {
	return 0, ErrNotImplemented
}
func (notImplemented) Lookup(string) (Account, error) { return Account{}, ErrNotImplemented }
func (notImplemented) LookupUID(int) (Account, error) { return Account{}, ErrNotImplemented }

func newGate(Config) LogonGate  { return notImplemented{} }
func newKiller() ProcessKiller  { return notImplemented{} }
func newUsers() UserDB          { return notImplemented{} }
func newPrintQueue() PrintQueue { return nil }
