package ui

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Events and audit rows read as sentences a librarian understands ("pc-12:
// blocked invoice.exe, a Windows program", "ann locked pc-07"); the raw
// record is one click away (rawEvent, rawAudit). Every string from an agent
// or the hub passes through shown.

// dirtyAdvice says, for desk staff, why a dirty PC is closed and what to do,
// from its newest wipe.dirty or session.dirty event among evs (the advice
// alone when none is known).
func dirtyAdvice(pc string, evs []protocol.EventView) string {
	var why string
	for _, e := range evs { // newest first
		if e.Kind != protocol.EventWipeDirty && e.Kind != protocol.EventSessionDirty {
			continue
		}
		why = "The last wipe did not finish"
		if n := e.Data[protocol.DataLeftovers]; n != "" && n != "0" {
			why = "The last wipe left " + shown(n) + " file(s) of the patron behind"
		}
		if f := e.Data[protocol.DataFirst]; f != "" {
			why += ", the first is " + shown(f)
		} else if w := firstOf(e.Data, protocol.DataWhy, protocol.DataReason); w != "" {
			why += " (" + shown(w) + ")"
		}
		why += ". "
		break
	}
	return why + pc + " stays closed to patrons until it is clean, so the next patron cannot see the last one's files. " +
		"What to do: press Wipe now to try again. If it is still dirty, Reboot it (a restart often frees a file a program held open). " +
		"If it is dirty after that too, leave it closed and tell IT, with the file named here."
}

// eventSentence is one event as a sentence, starting with the PC's name (as
// shown) when there is one.
func eventSentence(e protocol.EventView, pc string) string {
	d := func(k string) string { return shown(e.Data[k]) }
	why := firstOf(e.Data, protocol.DataReason, protocol.DataWhy, protocol.DataError)
	var s string
	switch e.Kind {
	case protocol.EventDownloadBlocked:
		b := protocol.ParseDownloadBlocked(e.Data)
		s = "blocked " + orWord(shown(b.Name), "a file") + ", " + fileKind(b.Name, b.Reason)
		if b.ID == "" && b.Quarantine != "" {
			s += " (it could not be quarantined: " + shown(b.Quarantine) + ")"
		}
	case protocol.EventDownloadNoExec:
		s = "kept " + orWord(d(protocol.DataName), "a file") + " but it cannot run" + because(why)
	case protocol.EventQuarantineReleased:
		s = "gave " + orWord(shown(protocol.ParseQuarantineReleased(e.Data).Name), "a file") + " back to the patron from quarantine"
	case protocol.EventExecBlocked:
		s = "stopped a program from starting" + programName(e.Data[protocol.DataPath])
	case protocol.EventExecKilled:
		s = "closed a program that was running" + programName(e.Data[protocol.DataPath])
	case protocol.EventPolicyReasserted:
		s = "a browser setting was changed and has been put back"
	case protocol.EventPolicyRefused, protocol.EventPolicyFailed:
		s = "browser settings could not be applied" + because(why)
	case protocol.EventSessionStarted:
		s = "a patron logged in"
	case protocol.EventSessionEnded:
		s = "the patron's session ended"
	case protocol.EventSessionRefused:
		s = "a logon was refused while the PC was held" + because(why)
	case protocol.EventSessionLocked:
		s = "locked by staff"
	case protocol.EventSessionUnlocked:
		s = "unlocked by staff"
	case protocol.EventSessionWiped, protocol.EventWipeDone:
		s = "wiped clean after the session"
	case protocol.EventSessionDirty, protocol.EventWipeDirty:
		s = "the wipe left files behind, so the PC stays closed" + because(why)
	case protocol.EventWipeRefused:
		s = "the wipe did not run" + because(why)
	case protocol.EventHoldFailed:
		s = "could not hold or release logons" + because(why)
	case protocol.EventStateBroken:
		s = "its saved session state could not be read" + because(why)
	case protocol.EventAgentStarted:
		s = "the Carrel agent started"
	case protocol.EventOutboxOverflow:
		s = "some events were lost while the hub could not be reached"
	case protocol.EventWatcherError:
		s = "the download watcher reported a problem" + because(why)
	case protocol.EventExecGuardError:
		s = "the program guard reported a problem" + because(why)
	case protocol.EventHelperRestarted:
		s = "the on-screen helper restarted"
	case protocol.EventSelfTestDone:
		s = selfTestSentence(e.Data)
	default:
		s = shown(string(e.Kind)) + because(why)
	}
	if n := d(protocol.DataSuppressed); n != "" && n != "0" {
		s += " (and " + n + " more like it)"
	}
	if pc == "" {
		return upperFirst(s)
	}
	return pc + ": " + s
}

// fileKind says in words what a blocked file is, from its name and the
// guard's reason ("a Windows program").
func fileKind(name, reason string) string {
	ext := strings.ToLower(path.Ext(name))
	switch {
	case slices.Contains([]string{".exe", ".msi", ".scr", ".com", ".dll", ".cpl", ".msix", ".appx"}, ext),
		strings.Contains(reason, "PE "), strings.HasPrefix(reason, "PE"):
		return "a Windows program"
	case slices.Contains([]string{".bat", ".cmd", ".ps1", ".vbs", ".vbe", ".js", ".jse", ".wsf", ".hta", ".sh"}, ext):
		return "a script that could run on the PC"
	case slices.Contains([]string{".lnk", ".url", ".search-ms", ".library-ms", ".settingcontent-ms"}, ext):
		return "a shortcut that could start a program"
	case slices.Contains([]string{".jar", ".apk", ".dmg", ".pkg", ".deb", ".rpm", ".appimage"}, ext):
		return "an installer or program for another system"
	case slices.Contains([]string{".zip", ".7z", ".rar", ".iso", ".img", ".cab"}, ext):
		return "an archive holding something that could run" + because(reason)
	case reason != "":
		return "judged unsafe" + because(reason)
	}
	return "judged unsafe"
}

// auditSentence is one audit row as a sentence ("ann locked pc-07"); pc is
// the terminal's name as shown ("" if the row names none).
func auditSentence(a protocol.AuditView, pc string) string {
	who := actorText(a.Actor)
	d := auditDetail(a)
	act := shown(d[protocol.AuditKeyAction])
	refused := strings.HasPrefix(a.Result, "refused") || strings.HasPrefix(a.Result, "failed")
	var s string
	switch a.Action {
	case protocol.AuditCommand:
		s = who + " " + commandVerb(protocol.Action(d[protocol.AuditKeyAction]), act) + " " + orWord(pc, "a PC")
	case protocol.AuditCommandResult:
		s = orWord(pc, "a PC") + " answered " + who + "'s " + act
		if d[protocol.AuditKeyOK] == "false" {
			s += ": it failed" + because(d[protocol.AuditKeyResult])
			refused = false // said already
		} else {
			s += ": done"
		}
	case protocol.AuditEnroll:
		s = orWord(pc, "a PC") + " enrolled"
		if n := d[protocol.AuditKeyName]; n != "" && shown(n) != pc {
			s += " as " + quoted(n)
		}
	case protocol.AuditRenew:
		s = orWord(pc, "a PC") + " renewed its certificate"
	case protocol.AuditRevoke:
		s = who + " revoked " + orWord(pc, "a PC")
	case protocol.AuditTokenCreate:
		s = who + " made an enrollment token"
		if u := d[protocol.AuditKeyUses]; u != "" {
			s += " for " + shown(u) + " PCs"
		}
	case protocol.AuditStaffSetup:
		s = who + " set up the hub as its first admin"
	case protocol.AuditStaffCreate:
		s = who + " made the staff account " + quoted(d[protocol.AuditKeyUser])
		if r := d[protocol.AuditKeyRole]; r != "" {
			s += " (" + shown(r) + ")"
		}
	case protocol.AuditStaffDisable:
		s = who + " disabled the staff account " + quoted(d[protocol.AuditKeyUser])
	case protocol.AuditStaffLogin:
		s = who + " logged in"
		if refused {
			s = who + " tried to log in"
		}
	case protocol.AuditStaffLogout:
		s = who + " logged out"
	case protocol.AuditStaffConnect:
		s = "a console connection was refused"
	case protocol.AuditErase:
		s = who + " erased what the hub kept about " + orWord(pc, "a PC") + " (" + orWord(shown(d[protocol.AuditKeyEvents]), "no") + " events)"
	case protocol.AuditStaffRequest:
		s = who + " asked for " + orWord(shown(d[protocol.AuditKeyOp]), "something")
		refused = true
	default:
		s = who + " " + shown(string(a.Action))
		if pc != "" {
			s += " " + pc
		}
	}
	if n := d[protocol.AuditKeyCount]; n != "" && n != "1" {
		s += " (" + shown(n) + " times)"
	}
	if refused {
		s += ": refused" + because(strings.TrimPrefix(strings.TrimPrefix(a.Result, "refused"), ": "))
	}
	return s
}

// commandVerb is what sending action reads as ("locked", "sent a message to").
func commandVerb(a protocol.Action, shownAction string) string {
	switch a {
	case protocol.ActionLock:
		return "locked"
	case protocol.ActionUnlock:
		return "unlocked"
	case protocol.ActionMessage:
		return "sent a message to"
	case protocol.ActionEndSession:
		return "ended the session on"
	case protocol.ActionWipeNow:
		return "wiped"
	case protocol.ActionReboot:
		return "restarted"
	case protocol.ActionShutdown:
		return "shut down"
	case protocol.ActionReleaseQuarantine:
		return "released a quarantined file on"
	case protocol.ActionPing:
		return "pinged"
	}
	return "sent " + orWord(shownAction, "a command") + " to"
}

// actorText is an audit actor as a person reads it: a staff member's name,
// "the hub", "an enrolling PC".
func actorText(actor string) string {
	switch {
	case strings.HasPrefix(actor, "staff:"):
		return orWord(shown(strings.TrimPrefix(actor, "staff:")), "someone")
	case actor == "hub":
		return "the hub"
	case strings.HasPrefix(actor, "enroll:"):
		return "an enrolling PC (" + shown(strings.TrimPrefix(actor, "enroll:")) + ")"
	case strings.HasPrefix(actor, "local:"):
		return shown(strings.TrimPrefix(actor, "local:")) + " on the hub's computer"
	}
	return orWord(shown(actor), "someone")
}

// auditDetail decodes a row's detail (a JSON object of strings), or nil.
func auditDetail(a protocol.AuditView) map[string]string {
	var d map[string]string
	if protocol.DecodeJSON([]byte(a.Detail), protocol.MaxFrame, &d) != nil {
		return map[string]string{}
	}
	return d
}

// rawEvent is the whole event, a field a line, for the "raw" panel.
func rawEvent(e protocol.EventView, pc string) string {
	lines := []string{
		"Time: " + e.Time.UTC().Format("2006-01-02 15:04:05 UTC"),
		"PC: " + pc + " (" + shown(e.Terminal) + ")",
		"Kind: " + shown(string(e.Kind)),
		"Severity: " + shown(string(e.Severity)),
		fmt.Sprintf("Event ID: %d, sequence %d", e.ID, e.Seq),
	}
	return strings.Join(append(lines, keyLines(e.Data)...), "\n")
}

// rawAudit is the whole audit row, a field a line.
func rawAudit(a protocol.AuditView, pc string) string {
	lines := []string{
		fmt.Sprintf("Row: %d", a.ID),
		"Time: " + a.Time.UTC().Format("2006-01-02 15:04:05 UTC"),
		"Actor: " + shown(a.Actor),
		"Action: " + shown(string(a.Action)),
	}
	if a.Terminal != "" {
		lines = append(lines, "Target: "+pc+" ("+shown(a.Terminal)+")")
	}
	lines = append(lines, "Result: "+shown(a.Result))
	if d := auditDetail(a); len(d) > 0 {
		lines = append(lines, keyLines(d)...)
	} else if a.Detail != "" {
		lines = append(lines, "Detail: "+shown(a.Detail))
	}
	return strings.Join(lines, "\n")
}

func keyLines(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, shown(k)+" = "+shown(m[k]))
	}
	return out
}

// firstOf is the first non-empty value of keys in m, raw.
func firstOf(m map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := m[k]; v != "" {
			return v
		}
	}
	return ""
}

// programName is ": name" for a program's path (Windows or Unix), as shown.
func programName(p string) string {
	if p == "" {
		return ""
	}
	return ": " + shown(path.Base(strings.ReplaceAll(p, `\`, "/")))
}

// because is " (why)" with why as shown, or "" for no reason.
func because(why string) string {
	if why == "" {
		return ""
	}
	return " (" + shown(why) + ")"
}

func orWord(s, word string) string {
	if s == "" {
		return word
	}
	return s
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}
