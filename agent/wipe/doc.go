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
// start) and it does not decide when a station is free. In the service its
// LogonGate is the agent's one logon gate (package agent), shared with the
// session manager: a release by the engine lets logons in only when the seat
// does not hold them (locked or dirty).
//
// Limitations (2026-11): Linux is the real implementation. Shared temp dirs are
// searched without crossing mount points: a filesystem mounted below /tmp is not
// cleared unless it is listed in Config.TempDirs itself, and a temp dir that is a
// symlink (some systems link /dev/shm to /run/shm) cannot be opened and keeps
// every wipe dirty: list the real path. A home reached through a symlinked
// parent is refused: configure homes by their real path. Windows is described
// below; macOS returns ErrNotImplemented throughout. Linux needs statx
// STATX_MNT_ID (kernel 5.8 or later). The Linux logon gate expires the account (chage -E 1) and restores the
// previous expiry date; it does not end sessions that are already open. Print
// jobs are cancelled with CUPS's cancel(1) when it is installed (untested here:
// no CUPS on the build machines).
//
// Windows (2026-11, run under Wine 8 only, never on Windows itself): an
// Account's UID is the account's RID in this computer's account domain (the
// SID is that domain's SID followed by the RID), GID is unused and Home is the
// account's ProfileImagePath from the registry's ProfileList. Only local
// accounts can be patrons: the user lookup refuses domain accounts, well-known
// SIDs, built-in accounts (RID below 1000), members of BUILTIN\Administrators
// and accounts without a profile. The logon gate disables the account
// (UF_ACCOUNTDISABLE through NetUserSetInfo level 1008, other flags kept),
// flushes the SAM hive, and restores the flag as it was. The killer ends every
// process whose token user is the patron's SID (process snapshot, token read
// and TerminateProcess through one handle, never the agent itself) and waits on
// the handles until they exit. Shared temp dirs (default %SystemRoot%\Temp and
// %SystemDrive%\$Recycle.Bin) lose the entries whose owner, read from the open
// handle, is the patron's SID. Every entry is opened relative to its parent's
// handle with FILE_OPEN_REPARSE_POINT, so junctions, symlinks and mount points
// are removed themselves, never followed. The trash root gets a SYSTEM and
// Administrators only DACL; the rebuilt profile is given to the patron (owner,
// and the DACL Windows gives a new profile: SYSTEM, Administrators, patron) with
// SeRestorePrivilege. A directory cannot be fsync'd on Windows: the rename of
// the profile into the trash and the gate's state file are written through
// (MOVEFILE_WRITE_THROUGH) instead.
//
// Ran under Wine: the lookup of Wine's user (SID, RID, profile, groups, refused
// as an administrator), NetUserGetInfo, the killer against the test's own child
// processes, owner-selective clearing (the other owner made by a Unix chown),
// and a whole wipe and purge with a fake gate and a fake user database. Only
// compiled: NetUserSetInfo (Wine aborts on it) and the SAM flush (Wine has no
// HKLM\SAM); the effect of the owner and DACL changes (Wine derives both from
// Unix owner and mode); reparse points (Wine's CreateSymbolicLink creates
// nothing); deletion of read-only files (Wine lacks FileDispositionInfoEx).
// Known gaps: the guards' owner checks (home owned by the patron, parents and
// trash owned by root) do not run, as a Windows FileInfo carries no owner; a
// profile whose registry hive is still loaded cannot be renamed, and the wipe
// then fails with logons held; until the trash is purged an old profile keeps
// its own DACL, so the same account could open its files by their full path
// (Windows lets every user traverse directories it cannot list); patron_users
// compares names as the SAM spells them; print jobs are not cancelled.
package wipe
