// Package downloads is the agent's file guard: it watches every patron-writable
// location for files that reached their final name and content, has each one
// judged by the classifier, moves the blocked ones into a quarantine only the
// service can read, and reports what it did to the hub through an EventSink.
//
// It is the detection layer of the download guard (see DESIGN.md): it does not
// stop anything from running (package execguard does) and it does not write
// browser policies. Allowed files are never opened for writing, never chmod-ed,
// and keep their extended attributes (Mark-of-the-Web, user.xdg.origin.url).
//
// Platforms (2026-11): Linux uses raw inotify (close-write and moved-to events,
// watches added for new subdirectories as they appear); Windows uses
// ReadDirectoryChangesW, which has no close-write event, so a file is judged once
// it has been quiet for a short settle time; macOS has no watcher yet
// (ErrNotImplemented: FSEvents/kqueue is planned), the exec guard's process
// watcher is the only layer there.
//
// Limitations (2026-11): a file that appears only through link(2) or
// linkat(O_TMPFILE) raises no close-write and is only seen by a rescan; files
// deeper than MaxDepth below a root are not watched (reported as watcher.error);
// on Windows a quarantined file's owner and ACL are not recorded and a released
// file inherits its folder's ACL.
package downloads
