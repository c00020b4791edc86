// Package template captures, installs and checks the fresh patron profile that
// every wipe recreates.
//
// A template is a directory written by Capture: files/ holds a copy of the
// captured tree and manifest.json lists every entry (path, type, mode, size,
// sha256, owner). Owners are stored as "patron" when the entry belonged to the
// captured home's owner, else as the numeric id, so one template serves any patron
// account. Install builds a tree from a template inside an os.Root and checks
// every hash while it copies; Compare walks a tree and lists what differs from the
// manifest (missing, extra, wrong type, mode, owner or content).
//
// It is not the deletion side of a wipe (package wipe owns that) and it never
// follows a symlink out of the tree it works on.
//
// Limitations (2026-11): captured trees hold directories, regular files and
// symlinks only (sockets, fifos and devices are refused); names must be valid
// UTF-8; setuid and setgid bits are refused; timestamps, ACLs and extended
// attributes are not recorded. On Windows owners are not recorded nor applied
// (every entry is "patron") and modes carry only the read-only bit.
package template
