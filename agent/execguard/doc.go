// Package execguard is the enforcement layer of the download guard: nothing a
// patron could write may run. It stops programs under patron-writable roots
// before they start where the OS allows it, and kills and reports the ones that
// started anyway.
//
// Per OS (2026-12):
//   - Linux: fanotify FAN_OPEN_EXEC_PERM with FAN_CLASS_CONTENT on the
//     filesystems that hold the roots (FAN_MARK_FILESYSTEM: a mount mark would
//     cover only the service's own mount namespace, which its systemd unit
//     gives it; the mount is marked where a filesystem mark is refused). The
//     kernel holds every exec on those filesystems until the agent answers, so the answer comes from memory (an immutable root set
//     behind an atomic pointer, no locks shared with slow work, no disk I/O)
//     and reports are sent off the decision path. If the agent dies the kernel
//     lets waiting execs through: the process watcher is the second line.
//     The loop runs in a helper process, restarted by the agent if it dies.
//   - Windows: Software Restriction Policy path rules (Disallowed) written under
//     HKLM\SOFTWARE\Policies\Microsoft\Windows\Safer\CodeIdentifiers, one per
//     root, removed again by Uninstall; plus the process watcher.
//   - macOS: the process watcher only (Enforcer is ErrNotImplemented).
//
// The process watcher is portable: it polls the process table (gopsutil) and
// kills any process whose executable lies under a root (exec.killed).
//
// On Linux the decision loop runs in a helper process (the agent binary run
// with HelperArg; cmd/carrel-agent calls HelperMain) that never forks: a Go
// process that forks while it answers exec permission events can deadlock
// itself in a GC stop-the-world.
//
// Not covered (2026-11): a script run through an interpreter that lives
// outside the roots (sh ./x.sh, python x.py, powershell -File) reads the file
// rather than executing it and is not stopped here; a patron-writable bind
// mount of a root reached through another path is judged by that other path;
// libraries loaded with mmap(PROT_EXEC) are not checked.
package execguard
