package hub

import (
	"strings"
	"testing"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/staffapi"
)

// The self-test from the console is an admin action: a desk member is
// refused (and that is audited); an admin's goes to the PC, audited before
// it is sent.
func TestSelfTestCommandIsAdminOnly(t *testing.T) {
	sh := startStaffHub(t, nil)
	asecret := sh.setup(t, "ann", adminPW)
	dsecret := sh.addStaff(t, "dan", "desk password", protocol.RoleDesk)
	agentCreds := sh.mustEnroll(t, "pc-01")
	sh.connect(t, agentCreds, 1, pong)

	desk := sh.console(t, sh.mustLogin(t, "dan", "desk password", dsecret), nil)
	r := desk.do(protocol.OpCommand, protocol.CommandArgs{Terminal: agentCreds.id, Action: protocol.ActionSelfTest})
	if r.OK || r.Error != staffapi.ErrForbidden.Error() {
		t.Fatalf("desk selftest: ok=%v error=%q, want refused", r.OK, r.Error)
	}
	row := sh.wantAudit(t, "staff:dan", "command", "refused: admin only")
	if !strings.Contains(row.Detail, `"action":"selftest"`) {
		t.Fatalf("refusal audit row: %+v", row)
	}

	admin := sh.console(t, sh.mustLogin(t, "ann", adminPW, asecret), nil)
	var res protocol.Result
	admin.ok(protocol.OpCommand, protocol.CommandArgs{Terminal: agentCreds.id, Action: protocol.ActionSelfTest}, &res)
	if !res.OK || res.Output != "pong selftest" {
		t.Fatalf("admin selftest: %+v", res)
	}
	found := false
	for _, r := range sh.auditRows(t) {
		if r.Actor == "staff:ann" && r.Action == "command" && r.Target == agentCreds.id && strings.Contains(r.Detail, `"action":"selftest"`) {
			found = true
		}
	}
	if !found {
		t.Fatal("no audit row for the admin's selftest command")
	}
}
