package protocol

import (
	"context"
	"strconv"
)

// EventKind names what happened on a terminal. Every kind an agent reports is in
// the list below and in EventKinds; a new kind is added here and nowhere else, and
// the compiler then finds every place that must handle it. The hub stores a kind it
// does not know (a newer agent may report one), but never acts on it.
type EventKind string

// The event kinds, grouped by the part of the agent that reports them. The data
// each carries is written next to it; the kinds another program reads have a typed
// form below (DownloadBlocked, QuarantineReleased).
const (
	// The agent itself.
	EventAgentStarted    EventKind = "agent.started"         // info: version, restarts
	EventOutboxOverflow  EventKind = "agent.outbox_overflow" // warn: dropped
	EventWatcherError    EventKind = "watcher.error"         // warn: error, suppressed
	EventExecGuardError  EventKind = "execguard.error"       // warn: error
	EventHelperRestarted EventKind = "session.helper_restarted"

	// The download guard and quarantine.
	EventDownloadBlocked    EventKind = "download.blocked"    // alert: DownloadBlocked
	EventDownloadNoExec     EventKind = "download.noexec"     // info: name, sha256, reason, size
	EventQuarantineReleased EventKind = "quarantine.released" // info: QuarantineReleased

	// The exec guard.
	EventExecBlocked EventKind = "exec.blocked" // alert: path, sha256, pid, user, dropped
	EventExecKilled  EventKind = "exec.killed"  // alert: path, pid, user, error

	// Browser policies.
	EventPolicyReasserted EventKind = "policy.reasserted" // warn: someone changed a policy; put back
	EventPolicyRefused    EventKind = "policy.refused"    // alert: a policy target refused
	EventPolicyFailed     EventKind = "policy.failed"     // alert: writing a policy failed

	// The patron seat.
	EventSessionStarted  EventKind = "session.started"          // info: session; grant, patron, kind when signed in (patron.go)
	EventSessionEnded    EventKind = "session.ended"            // info: session; grant, end_reason, used when signed in
	EventSessionWarned   EventKind = "session.warned"           // info: grant, minutes (a time warning the patron acknowledged)
	EventSessionRefused  EventKind = "session.refused"          // warn: session, reason (a logon while held)
	EventSessionLocked   EventKind = "session.locked"           // info: staff locked the seat
	EventSessionUnlocked EventKind = "session.unlocked"         // info: staff unlocked the seat
	EventSessionWiped    EventKind = "session.wiped"            // info: took
	EventSessionDirty    EventKind = "session.dirty"            // alert: reason; the seat stays held
	EventHoldFailed      EventKind = "session.hold-failed"      // alert: error (holding or releasing logons)
	EventStateBroken     EventKind = "session.state-unreadable" // alert: error (the seat's saved state)

	// The wipe engine.
	EventWipeDone    EventKind = "wipe.done"    // info: files, bytes, ms_ready, ms_purged, mode
	EventWipeDirty   EventKind = "wipe.dirty"   // alert: why, leftovers, first
	EventWipeRefused EventKind = "wipe.refused" // alert: why

	// The hub's audit log as this agent saw it.
	EventAuditAlarm EventKind = "hub.audit-alarm" // alert: verdict, kept, got (the hub's signed heads)

	// The PC's self-test (agent/selftest).
	EventSelfTestDone EventKind = "selftest.done" // info when every check passed, alert when one failed: SelfTestDone
)

// EventKinds lists every kind in a stable order.
var EventKinds = []EventKind{
	EventAgentStarted, EventOutboxOverflow, EventWatcherError, EventExecGuardError, EventHelperRestarted,
	EventDownloadBlocked, EventDownloadNoExec, EventQuarantineReleased,
	EventExecBlocked, EventExecKilled,
	EventPolicyReasserted, EventPolicyRefused, EventPolicyFailed,
	EventSessionStarted, EventSessionEnded, EventSessionWarned, EventSessionRefused, EventSessionLocked, EventSessionUnlocked,
	EventSessionWiped, EventSessionDirty, EventHoldFailed, EventStateBroken,
	EventWipeDone, EventWipeDirty, EventWipeRefused,
	EventAuditAlarm,
	EventSelfTestDone,
}

// logIDs are the event IDs the agent's events carry in the Windows Event Log
// and the journal (CARREL_EVENT_ID), by the part of the agent that reports
// them: 100s the agent, 200s downloads, 300s the exec guard, 400s browser
// policies, 500s the seat, 600s the wipe, 700s the hub's audit log, 800s the
// self-test. They are
// published (README, "Where the logs are"): never renumber one.
var logIDs = map[EventKind]uint32{
	EventAgentStarted: 100, EventOutboxOverflow: 101, EventWatcherError: 102, EventExecGuardError: 103, EventHelperRestarted: 104,
	EventDownloadBlocked: 200, EventDownloadNoExec: 201, EventQuarantineReleased: 202,
	EventExecBlocked: 300, EventExecKilled: 301,
	EventPolicyReasserted: 400, EventPolicyRefused: 401, EventPolicyFailed: 402,
	EventSessionStarted: 500, EventSessionEnded: 501, EventSessionWarned: 502, EventSessionRefused: 503,
	EventSessionLocked: 504, EventSessionUnlocked: 505, EventSessionWiped: 506, EventSessionDirty: 507,
	EventHoldFailed: 508, EventStateBroken: 509,
	EventWipeDone: 600, EventWipeDirty: 601, EventWipeRefused: 602,
	EventAuditAlarm:   700,
	EventSelfTestDone: 800,
}

// LogID is the kind's event ID in the OS's log (1 to 1000), 0 for a kind
// this build does not know.
func (k EventKind) LogID() uint32 { return logIDs[k] }

// Known reports whether k is in EventKinds.
func (k EventKind) Known() bool {
	for _, e := range EventKinds {
		if k == e {
			return true
		}
	}
	return false
}

// EventSink records one event durably for the hub: the agent's outbox is one, and
// every agent component that reports takes one. data values are short plain text.
type EventSink interface {
	Emit(kind EventKind, sev Severity, data map[string]string) error
}

// Keys of Event.Data shared by several kinds. A key used by one kind only is
// written in its typed form below.
const (
	DataName       = "name"       // a file's base name, as the patron saw it
	DataSHA256     = "sha256"     // hex SHA-256 of the content
	DataSize       = "size"       // bytes, decimal
	DataReason     = "reason"     // why, in words
	DataID         = "id"         // a quarantine record's id
	DataQuarantine = "quarantine" // "failed: ..." when a blocked file could not be moved
	DataError      = "error"
	DataSuppressed = "suppressed" // how many like it were not reported
	DataSession    = "session"
)

// Keys of Event.Data of the other kinds (see each kind's comment above). They
// are shown to staff as they come, not parsed, so they stay plain keys.
const (
	DataVersion      = "version"      // the agent's version (agent.started)
	DataRestarts     = "restarts"     // agent starts since install minus one (agent.started)
	DataDropped      = "dropped"      // how many were lost (outbox overflow, exec denials the kernel dropped)
	DataDroppedTotal = "droppedTotal" // how many were lost since the agent started (agent.outbox_overflow)
	DataPath         = "path"         // a file's full path (exec guard, browser policies)
	DataPID          = "pid"          // a process id, decimal (exec guard)
	DataBrowser      = "browser"      // a browser's name (browser policies)
	DataExit         = "exit"         // how a session helper ended (session.helper_restarted)
	DataTook         = "took"         // a duration, Go syntax (session.wiped)
	DataHold         = "hold"         // "true" to hold logons, "false" to release them (session.hold-failed)
	DataUser         = "user"         // the account a wipe was for (wipe.*)
	DataWhy          = "why"          // why a wipe was refused or left the home dirty (wipe.*)
	DataLeftovers    = "leftovers"    // how many files a wipe could not remove or restore (wipe.dirty)
	DataFirst        = "first"        // the first leftover and why (wipe.dirty)
	DataVerdict      = "verdict"      // how the hub's audit head compares with the kept one (hub.audit-alarm)
	DataKept         = "kept"         // the highest audit head this agent kept (text form)
	DataGot          = "got"          // the audit head the hub sent now (text form)
	DataMode         = "mode"         // how a home was wiped (wipe.done)
	DataFiles        = "files"        // files purged, decimal (wipe.done)
	DataBytes        = "bytes"        // bytes purged, decimal (wipe.done)
	DataMsReady      = "ms_ready"     // ms from the wipe's start until logons were allowed again (wipe.done)
	DataMsPurged     = "ms_purged"    // ms from the wipe's start until the trash was purged (wipe.done)
)

// DownloadBlocked is the data of EventDownloadBlocked. ID is empty when the file
// could not be moved into quarantine; Quarantine then says why.
type DownloadBlocked struct {
	ID         string
	Name       string
	SHA256     string
	Size       int64
	Reason     string
	Quarantine string
}

// Data is the event's wire form.
func (d DownloadBlocked) Data() map[string]string {
	m := map[string]string{DataName: d.Name, DataSHA256: d.SHA256, DataReason: d.Reason,
		DataSize: strconv.FormatInt(d.Size, 10)}
	if d.ID != "" {
		m[DataID] = d.ID
	}
	if d.Quarantine != "" {
		m[DataQuarantine] = d.Quarantine
	}
	return m
}

// ParseDownloadBlocked reads the data of an EventDownloadBlocked. A size that is
// not a number reads as 0: the data came from an agent and is shown, not trusted.
func ParseDownloadBlocked(m map[string]string) DownloadBlocked {
	size, _ := strconv.ParseInt(m[DataSize], 10, 64)
	return DownloadBlocked{ID: m[DataID], Name: m[DataName], SHA256: m[DataSHA256], Size: size,
		Reason: m[DataReason], Quarantine: m[DataQuarantine]}
}

// QuarantineReleased is the data of EventQuarantineReleased.
type QuarantineReleased struct {
	ID     string
	Name   string
	SHA256 string
}

// Data is the event's wire form.
func (q QuarantineReleased) Data() map[string]string {
	return map[string]string{DataID: q.ID, DataName: q.Name, DataSHA256: q.SHA256}
}

// ParseQuarantineReleased reads the data of an EventQuarantineReleased.
func ParseQuarantineReleased(m map[string]string) QuarantineReleased {
	return QuarantineReleased{ID: m[DataID], Name: m[DataName], SHA256: m[DataSHA256]}
}

// CommandHandler carries out one action on the agent and says what it did. args
// are the command's Args, read with the Arg constants of that action. It is the one
// handler type: the link dispatches to it, the seat and the quarantine provide it.
type CommandHandler func(ctx context.Context, args map[string]string) (output string, err error)

// Command argument keys, per action. A console sets them and the agent reads them
// through these names only.
const (
	// ArgText is the message shown to the patron (ActionMessage); at most
	// MaxMessageText bytes.
	ArgText = "text"
	// ArgGrace is the countdown in whole seconds before the session ends
	// (ActionEndSession); 0 to MaxGraceSeconds, absent means at once.
	ArgGrace = "grace"
	// ArgSession names the patron session an end-session is meant for
	// (ActionEndSession); a command for a session that already ended is refused.
	ArgSession = "session"
	// ArgUser names the patron account to wipe (ActionWipeNow); absent means the
	// seat's account.
	ArgUser = "user"
	// ArgQuarantineID is the quarantine record to release
	// (ActionReleaseQuarantine).
	ArgQuarantineID = "id"
)

// MaxGraceSeconds is the longest end-session countdown.
const MaxGraceSeconds = 90
