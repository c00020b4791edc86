// Package wipe ends a patron's session without leaving anything of it behind:
// it holds new logons of the patron account, ends the account's processes,
// renames the home aside into a root-only trash on the same filesystem, recreates
// the home from an IT-captured template (package wipe/template), clears the
// account's files from shared temp directories, verifies the result against the
// template, lets logons in again, and only then purges the trash in the
// background. Time to the next patron does not grow with what the last one left.
//
// Every step is written to a journal (one fsync'd record per step) before the
// next begins, so an agent killed at any point finishes the wipe with Resume
// before logons are allowed again.
//
// The guards are the point of the package. A scope is refused when it resolves
// to "/", a system directory, the agent's own directories, or a home that is not
// owned by a patron account (policy: Config.PatronUsers or Config.PatronGroup).
// Deletion is handle-relative (openat with O_NOFOLLOW|O_DIRECTORY, unlinkat),
// never follows a symlink, never crosses a mount point (checked by mount id, since
// a bind mount of the same filesystem shares st_dev), and never chmods, truncates
// or overwrites a file: a hard link to a file outside is only unlinked. Only
// directories inside the root-only trash that belong to the patron may be given
// a+rwx so they can be emptied (this matters when the agent runs without
// CAP_DAC_OVERRIDE; it then needs CAP_FOWNER). What cannot be removed is retried,
// then reported: a wipe whose home or temp dirs are not clean is dirty and leaves
// logons held; a trash that cannot be purged completely is reported dirty
// (wipe.dirty) after the station is ready, and retried at the next start.
//
// Use: New at start, Resume before logons are allowed, PurgeLoop in the
// background, Wipe at each logoff (it returns at ready; Report.Ready and
// Report.Verified say whether logons were let in). Purge waits for one wipe's
// trash (the CLI uses it).
//
// It is not the session watcher (agent/session calls Wipe at logoff and Resume at
// start) and it does not decide when a station is free.
//
// Limitations (2026-11): Linux is the real implementation. Shared temp dirs are
// searched without crossing mount points: a filesystem mounted below /tmp is not
// cleared unless it is listed in Config.TempDirs itself, and a temp dir that is a
// symlink (some systems link /dev/shm to /run/shm) cannot be opened and keeps
// every wipe dirty: list the real path. A home reached through a symlinked
// parent is refused: configure homes by their real path. Windows builds with
// path-based deletion that detects reparse points and deletes by handle with POSIX
// semantics, but its logon gate, process killer and user lookup return
// ErrNotImplemented and none of it has run on Windows yet; macOS returns
// ErrNotImplemented throughout. Linux needs statx STATX_MNT_ID (kernel 5.8 or
// later). The Linux logon gate expires the account (chage -E 1) and restores the
// previous expiry date; it does not end sessions that are already open. Print
// jobs are cancelled with CUPS's cancel(1) when it is installed (untested here:
// no CUPS on the build machines).
package wipe
