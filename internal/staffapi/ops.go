package staffapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// staffOp is one op of the staff websocket. run checks the role itself (command
// needs its args to know), audits refusals and changes, and returns the body.
type staffOp struct {
	run   func(*staffCall) (any, error)
	async bool // waits on an agent: run off the reader
}

// staffOps is every op a console may ask for. An op not here is refused (and
// audited) by staffRequest.
var staffOps = map[protocol.StaffOp]staffOp{
	protocol.OpSubscribe:      {run: opSubscribe},
	protocol.OpTerminals:      {run: opTerminals},
	protocol.OpEvents:         {run: opEvents},
	protocol.OpCommand:        {run: opCommand, async: true},
	protocol.OpTokenCreate:    {run: opTokenCreate},
	protocol.OpTerminalRevoke: {run: opTerminalRevoke},
	protocol.OpQuarantineList: {run: opQuarantineList, async: true},
	protocol.OpStaffList:      {run: opStaffList},
	protocol.OpStaffCreate:    {run: opStaffCreate, async: true}, // argon2id takes a while
	protocol.OpStaffDisable:   {run: opStaffDisable},
	protocol.OpAuditList:      {run: opAuditList},
	protocol.OpAuditVerify:    {run: opAuditVerify, async: true},
	protocol.OpHubInfo:        {run: opHubInfo},
	protocol.OpReport:         {run: opReport, async: true}, // a year of a fleet's counts takes a while
	protocol.OpIMLS:           {run: opIMLS, async: true},
	protocol.OpSessionGet:     {run: opSessionGet},
	protocol.OpSessionTime:    {run: opSessionTime},
	protocol.OpGuestCreate:    {run: opGuestCreate},
	protocol.OpRulesGet:       {run: opRulesGet},
	protocol.OpRulesSet:       {run: opRulesSet},
	protocol.OpILSLink:        {run: opILSLink},
	protocol.OpAPIKeyCreate:   {run: opAPIKeyCreate},
	protocol.OpAPIKeyList:     {run: opAPIKeyList},
	protocol.OpAPIKeyRevoke:   {run: opAPIKeyRevoke},
	protocol.OpWebhookCreate:  {run: opWebhookCreate},
	protocol.OpWebhookList:    {run: opWebhookList},
	protocol.OpWebhookDelete:  {run: opWebhookDelete},

	protocol.OpMaintenanceStart:    {run: opMaintenanceStart},
	protocol.OpMaintenanceEnd:      {run: opMaintenanceEnd},
	protocol.OpMaintenanceList:     {run: opMaintenanceList},
	protocol.OpMaintenanceSchedule: {run: opMaintenanceSchedule},
}

// Limits of list answers (a response must fit in one frame).
const (
	defaultListLimit = 100
	maxListLimit     = 200
)

func listLimit(n int) int {
	if n <= 0 {
		return defaultListLimit
	}
	return min(n, maxListLimit)
}

func opSubscribe(x *staffCall) (any, error) {
	var a protocol.SubscribeArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	if a.SinceEvent < 0 {
		return nil, errors.New("since_event must not be negative")
	}
	if !x.srv.bus.subscribe(x.c, x.req.ID, a.SinceEvent) {
		return nil, errors.New("hub shutting down")
	}
	return nil, errAnswered
}

func opTerminals(x *staffCall) (any, error) {
	if err := x.args(&struct{}{}); err != nil {
		return nil, err
	}
	return x.srv.hub.Terminals(x.c.ctx)
}

func opEvents(x *staffCall) (any, error) {
	var a protocol.EventsArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	evs, err := x.srv.store.LatestEvents(x.c.ctx, a.SinceEvent, a.Terminal, listLimit(a.Limit))
	if err != nil {
		return nil, err
	}
	out := make([]protocol.EventView, len(evs))
	for i, e := range evs {
		out[i] = *eventView(e)
	}
	return out, nil
}

func opCommand(x *staffCall) (any, error) {
	var a protocol.CommandArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	detail := map[string]string{protocol.AuditKeyAction: protocol.Clip(string(a.Action), 64)}
	if !a.Action.Known() {
		x.refuse(protocol.Clip(a.Terminal, 64), "refused: unknown action", detail)
		return nil, fmt.Errorf("unknown action %q", protocol.Clip(string(a.Action), 64))
	}
	if !protocol.DeskActions[a.Action] {
		if err := x.admin(protocol.Clip(a.Terminal, 64), detail); err != nil {
			return nil, err
		}
	}
	res, err := x.srv.hub.SendCommand(x.c.ctx, a.Terminal, a.Action, a.Args, x.actor)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrAmbiguous) {
			// Refused before the command was stored, so SendCommand wrote no record.
			x.refuse(protocol.Clip(a.Terminal, 64), "failed: "+err.Error(), detail)
		}
		return nil, err
	}
	return res, nil
}

func opTokenCreate(x *staffCall) (any, error) {
	var a protocol.TokenArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	if err := x.admin("", nil); err != nil {
		return nil, err
	}
	if a.Uses == 0 {
		a.Uses = 1
	}
	if a.TTL == 0 {
		a.TTL = 24 * time.Hour
	}
	if a.Uses < 1 || a.Uses > 100000 || a.TTL < time.Minute || a.TTL > 90*24*time.Hour {
		x.refuse("", "refused: uses must be 1 to 100000 and ttl 1 minute to 90 days", nil)
		return nil, errors.New("uses must be 1 to 100000 and ttl 1 minute to 90 days")
	}
	tok, hash, err := pki.NewToken()
	if err != nil {
		return nil, err
	}
	// Real time: the store checks the expiry against its own clock.
	expires := time.Now().Add(a.TTL).UTC().Truncate(time.Second)
	if err := x.srv.store.CreateToken(x.c.ctx, hash, a.Uses, expires, x.actor); err != nil {
		return nil, err
	}
	return enrollLines(tok, expires, a.Uses, x.srv.hub.AgentURL(), x.srv.hub.PublicName() == "", x.srv.hub.Fingerprint(), x.srv.cfg.Version), nil
}

// enrollLines is the token's view: the hub's own public URL (never the
// address a console reached it by) and the agent's packages as
// carrel-package names them for this hub's version.
func enrollLines(tok string, expires time.Time, uses int, url string, noPublicName bool, fp, version string) protocol.TokenView {
	v := protocol.PackageVersion(version)
	msi, deb := protocol.AgentMSIFile(v), protocol.AgentDebFile(v, "amd64")
	return protocol.TokenView{Token: tok, Fingerprint: fp, ExpiresAt: expires, Uses: uses, HubURL: url,
		MSIFile: msi, DebFile: deb, NoPublicName: noPublicName,
		AgentCommand: fmt.Sprintf("carrel-agent enroll --hub %s --token %s --fingerprint %s", url, tok, fp),
		// The installer's public properties (installer/doc.go).
		MSICommand: fmt.Sprintf("msiexec /i %s /qn HUB_URL=%s HUB_FINGERPRINT=%s ENROLL_TOKEN=%s", msi, url, fp, tok),
		// The .deb's postinst reads the same names from its environment.
		DebCommand: fmt.Sprintf("sudo env HUB_URL=%s HUB_FINGERPRINT=%s ENROLL_TOKEN=%s apt-get install -y ./%s", url, fp, tok, deb),
	}
}

func opTerminalRevoke(x *staffCall) (any, error) {
	var a protocol.TerminalArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	target := protocol.Clip(a.Terminal, 64)
	if err := x.admin(target, nil); err != nil {
		return nil, err
	}
	_, err := x.srv.hub.Revoke(x.c.ctx, a.Terminal, x.actor)
	if err != nil {
		x.refuse(target, "failed: "+err.Error(), nil)
		return nil, err
	}
	return nil, nil
}

func opQuarantineList(x *staffCall) (any, error) {
	if err := x.args(&struct{}{}); err != nil {
		return nil, err
	}
	if err := x.admin("", nil); err != nil {
		return nil, err
	}
	evs, err := x.srv.store.QuarantineEvents(x.c.ctx)
	if err != nil {
		return nil, err
	}
	return quarantineViews(evs), nil
}

// quarantineViews lists the files still in quarantine: every download.blocked
// event that carries a quarantine id, minus those a later quarantine.released of
// the same terminal names, newest last. Only as old as event retention.
func quarantineViews(evs []store.EventRecord) []protocol.QuarantineView {
	type key struct{ terminal, id string }
	idx := map[key]int{}
	var out []protocol.QuarantineView
	for _, e := range evs {
		switch e.Kind {
		case protocol.EventDownloadBlocked:
			d := protocol.ParseDownloadBlocked(e.Data)
			if d.ID == "" {
				continue // blocked but not quarantined (the move failed)
			}
			idx[key{e.Terminal, d.ID}] = len(out)
			out = append(out, protocol.QuarantineView{Terminal: e.Terminal, ID: d.ID, Name: d.Name,
				SHA256: d.SHA256, Size: d.Size, Reason: d.Reason, Time: e.Time.UTC()})
		case protocol.EventQuarantineReleased:
			r := protocol.ParseQuarantineReleased(e.Data)
			if i, ok := idx[key{e.Terminal, r.ID}]; ok && r.ID != "" {
				out[i].Released = true
			}
		}
	}
	pending := out[:0]
	for _, q := range out {
		if !q.Released {
			pending = append(pending, q)
		}
	}
	return pending
}

func opStaffList(x *staffCall) (any, error) {
	if err := x.args(&struct{}{}); err != nil {
		return nil, err
	}
	if err := x.admin("", nil); err != nil {
		return nil, err
	}
	as, err := x.srv.store.StaffList(x.c.ctx)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.StaffView, len(as))
	for i, a := range as {
		out[i] = protocol.StaffView{User: a.User, Role: protocol.Role(a.Role), Created: a.Created.UTC(), Disabled: a.Disabled}
		if !a.LastLogin.IsZero() {
			out[i].LastLogin = a.LastLogin.UTC()
		}
	}
	return out, nil
}

func opStaffCreate(x *staffCall) (any, error) {
	var a protocol.StaffCreateArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	detail := map[string]string{protocol.AuditKeyUser: protocol.Clip(a.User, 64), protocol.AuditKeyRole: protocol.Clip(string(a.Role), 16)}
	if err := x.admin("", detail); err != nil {
		return nil, err
	}
	var resp protocol.SetupResponse
	var err error
	if werr := x.srv.withArgon(x.c.ctx, func() {
		resp, err = createStaff(x.c.ctx, x.srv.store, x.srv.cfg.DataDir, strings.TrimSpace(a.User), a.Password, a.Role, x.actor, false, x.srv.cfg.Argon)
	}); werr != nil {
		return nil, werr
	}
	if err != nil {
		x.refuse("", "failed: "+err.Error(), detail)
		return nil, err
	}
	x.srv.log.Info("Staff member created", "user", resp.User, "role", a.Role, "by", x.user)
	return resp, nil
}

func opStaffDisable(x *staffCall) (any, error) {
	var a protocol.StaffArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	detail := map[string]string{protocol.AuditKeyUser: protocol.Clip(a.User, 64)}
	if err := x.admin("", detail); err != nil {
		return nil, err
	}
	if err := x.srv.store.DisableStaff(x.c.ctx, a.User, x.actor); err != nil {
		x.refuse("", "failed: "+err.Error(), detail)
		return nil, err
	}
	x.srv.bus.dropUser(a.User)
	x.srv.log.Info("Staff member disabled", "user", a.User, "by", x.user)
	return nil, nil
}

func opAuditList(x *staffCall) (any, error) {
	var a protocol.AuditArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	if err := x.admin("", nil); err != nil {
		return nil, err
	}
	rows, err := x.srv.store.AuditLog(x.c.ctx, a.SinceID, listLimit(a.Limit))
	if err != nil {
		return nil, err
	}
	out := make([]protocol.AuditView, len(rows))
	for i, r := range rows {
		out[i] = auditView(r)
	}
	return out, nil
}

// auditView shows a record; Result is the detail's "result", or the command
// outcome, or "ok".
func auditView(r store.AuditRecord) protocol.AuditView {
	v := protocol.AuditView{ID: r.Seq, Time: r.Time.UTC(), Actor: r.Actor, Action: r.Action, Terminal: r.Target, Detail: r.Detail, Result: "ok"}
	var d map[string]string
	if json.Unmarshal([]byte(r.Detail), &d) == nil {
		switch {
		case d[protocol.AuditKeyResult] != "" && r.Action != protocol.AuditCommandResult:
			v.Result = d[protocol.AuditKeyResult]
		case d[protocol.AuditKeyOK] == "false":
			v.Result = "failed: " + d[protocol.AuditKeyResult]
		}
	}
	return v
}

func opAuditVerify(x *staffCall) (any, error) {
	if err := x.args(&struct{}{}); err != nil {
		return nil, err
	}
	if err := x.admin("", nil); err != nil {
		return nil, err
	}
	n, err := x.srv.store.VerifyAudit(x.c.ctx)
	var ae *store.AuditError
	switch {
	case errors.As(err, &ae):
		return protocol.AuditVerifyView{OK: false, Rows: int64(n), BadRow: ae.Seq, Problem: ae.Reason}, nil
	case err != nil:
		return nil, err
	}
	return protocol.AuditVerifyView{OK: true, Rows: int64(n)}, nil
}

func opHubInfo(x *staffCall) (any, error) {
	if err := x.args(&struct{}{}); err != nil {
		return nil, err
	}
	info := protocol.HubInfo{Fingerprint: x.srv.hub.Fingerprint(), HubURL: x.srv.hub.AgentURL(), Version: x.srv.cfg.Version,
		NoPublicName: x.srv.hub.PublicName() == "", User: x.user, Role: x.role}
	if head, err := x.srv.hub.AuditHead(x.c.ctx); err == nil {
		info.AuditHead = head.String()
	} else {
		x.srv.log.Warn("Audit head unavailable for hub.info", "err", err)
	}
	return info, nil
}

// opReport adds up the usage counts for a range; any role may read them (they
// are counts, never a patron).
func opReport(x *staffCall) (any, error) {
	var a protocol.ReportArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	return x.srv.store.Report(x.c.ctx, a, x.srv.cfg.Zone)
}

func opIMLS(x *staffCall) (any, error) {
	var a protocol.IMLSArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	return x.srv.store.IMLS(x.c.ctx, a.Year, x.srv.cfg.Zone)
}

// Maintenance windows: admin only (the hub audits each change).

func opMaintenanceStart(x *staffCall) (any, error) {
	var a protocol.MaintenanceWindow
	if err := x.args(&a); err != nil {
		return nil, err
	}
	if err := x.admin(protocol.Clip(a.Target, 64), nil); err != nil {
		return nil, err
	}
	return x.srv.hub.StartMaintenance(x.c.ctx, a, x.actor)
}

func opMaintenanceEnd(x *staffCall) (any, error) {
	var a protocol.MaintenanceEndArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	if err := x.admin("", nil); err != nil {
		return nil, err
	}
	return nil, x.srv.hub.EndMaintenance(x.c.ctx, a.ID, x.actor)
}

func opMaintenanceList(x *staffCall) (any, error) {
	if err := x.args(&struct{}{}); err != nil {
		return nil, err
	}
	if err := x.admin("", nil); err != nil {
		return nil, err
	}
	return x.srv.hub.Maintenance(x.c.ctx)
}

func opMaintenanceSchedule(x *staffCall) (any, error) {
	var a protocol.MaintenanceScheduleArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	if err := x.admin(protocol.Clip(a.Branch, 64), nil); err != nil {
		return nil, err
	}
	return nil, x.srv.hub.ScheduleMaintenance(x.c.ctx, a, x.actor)
}
