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
// it has been quiet for a short settle time.
//
// macOS uses kqueue (EVFILT_VNODE on O_EVTONLY descriptors; FSEvents needs cgo,
// which the agent does not use). kqueue only says that a directory's entries
// changed or that a file was written, so a rescanner (rescan.go) keeps each
// directory's listing and compares it on every change: a new or changed file is
// judged once its size and mtime have not changed for 300 ms (watched by its own
// descriptor meanwhile), a partial download renamed to its final name at once,
// a deletion never; new subdirectories are watched and listed at once. At most
// 4096 directories (the shallowest first) and 1024 settling files hold a
// descriptor; past that, directories are polled (256 a second) and files are
// checked at their deadline (then judged up to 600 ms after their last write,
// not 300). Every directory is also swept (32 a second: with 4096 directories a
// round takes about two minutes), so a file rewritten in place is judged again. Files in a Safari bundle (name.download/) wait 30 s.
// The rescanner is tested on Linux through an inotify stand-in with kqueue's
// semantics; the kqueue half (watch_darwin.go) compiles and vets for
// darwin/amd64 and darwin/arm64 but has NOT been run on a Mac (2026-11), nor has
// the need for Full Disk Access (a PPPC profile) to read patrons' Desktop,
// Documents and Downloads been checked.
//
// Limitations (2026-11): a file that appears only through link(2) or
// linkat(O_TMPFILE) raises no close-write and is only seen by a rescan; files
// deeper than MaxDepth below a root are not watched (reported as watcher.error);
// on Windows a quarantined file's owner and ACL are not recorded and a released
// file inherits its folder's ACL. On macOS a download written under its final
// name (not a browser's partial name) that stalls longer than the settle time is
// judged early, and judged again only once a rescan of its directory (a
// sibling's change, or the sweep) finds it changed, as is a file rewritten in
// place; the rescanner's memory
// grows with the number of files under the roots; an inode number reused at once
// (FAT, exFAT) can make a new file look like a finished partial download, judged
// at once instead of after settling.
package downloads
