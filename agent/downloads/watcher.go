package downloads

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotImplemented is returned on platforms without a watcher.
var ErrNotImplemented = fmt.Errorf("downloads: not implemented on this platform: %w", errors.ErrUnsupported)

// ErrOverflow is carried by an Event when the OS dropped change notifications;
// the watcher has rescanned its roots and re-reported every file it found.
var ErrOverflow = errors.New("file change queue overflowed, roots rescanned")

// Op says why the watcher reported a file.
type Op string

const (
	// OpClosed: a file open for writing was closed.
	OpClosed Op = "closed"
	// OpMoved: a file was renamed or moved to this final name.
	OpMoved Op = "moved"
	// OpScanned: the file was found by a scan (a new or moved directory, a new
	// root, or a rescan after an overflow).
	OpScanned Op = "scanned"
)

// Event is one file that reached its final name and content, or a watcher error.
// Exactly one of Path and Err is set.
type Event struct {
	Path string
	Op   Op
	Err  error
}

// Watcher reports files written or moved under a set of roots, recursively.
// It never follows symbolic links below a root, and it does not report partial
// downloads (see IsPartial) until they are renamed to their final name.
//
// Add and Close may be called from any goroutine. Events must be drained by a
// goroutine other than the one that calls Add: Add scans the new root and
// reports its files on the same channel.
type Watcher interface {
	// Add starts watching root and every directory below it, and reports the
	// files already there as OpScanned. Adding a root that is still watched
	// does nothing; a root deleted and made again is watched and scanned anew.
	// root must be absolute and must not be a symbolic link.
	Add(root string) error
	// Events delivers files and errors. It is closed after Close.
	Events() <-chan Event
	// Close stops the watcher and releases its OS resources.
	Close() error
}

// partialSuffixes are the names browsers and download tools give a file while
// it is still arriving.
var partialSuffixes = []string{".crdownload", ".part", ".download", ".partial", ".tmp"}

// IsPartial reports whether name is a download in progress, judged only when it
// is renamed to its final name.
func IsPartial(name string) bool {
	l := strings.ToLower(name)
	for _, s := range partialSuffixes {
		if strings.HasSuffix(l, s) {
			return true
		}
	}
	return false
}
