package hub

import (
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/staffapi"
)

// The staff ops of the patron session through a real console link: desk
// makes guest passes and adds time (the PC gets the new grant), desk may not
// read or set rules, admin sets them; every change is audited.
func TestStaffPatronOps(t *testing.T) {
	emu := startILS(t)
	sh := startStaffHub(t, withILS(emu, 2*time.Second))
	asecret := sh.setup(t, "ann", adminPW)
	dsecret := sh.addStaff(t, "dan", "desk password", protocol.RoleDesk)
	cr := sh.mustEnroll(t, "pc-01")
	a, _ := sh.connect(t, cr, 1, pong)
	desk := sh.console(t, sh.mustLogin(t, "dan", "desk password", dsecret), nil)
	admin := sh.console(t, sh.mustLogin(t, "ann", adminPW, asecret), nil)

	var link protocol.ILSLink
	desk.ok(protocol.OpILSLink, nil, &link)
	if link.State == protocol.ILSNotConfigured {
		t.Errorf("ILS link %+v", link)
	}

	var passes protocol.GuestPassesView
	desk.ok(protocol.OpGuestCreate, protocol.GuestCreateArgs{Count: 2, Minutes: 45}, &passes)
	if len(passes.Codes) != 2 || passes.Minutes != 45 {
		t.Fatalf("passes %+v", passes)
	}
	if r := desk.do(protocol.OpGuestCreate, protocol.GuestCreateArgs{Count: 2, Minutes: 45, Day: true}); r.OK {
		t.Error("minutes and day both accepted")
	}
	a.send(&protocol.SignIn{ID: "s-1", Guest: passes.Codes[0]})
	g := a.expect(protocol.TypeSignInAnswer).(*protocol.SignInAnswer).Grant
	if g == nil || g.Kind != protocol.PatronGuest || g.Seconds != 45*60 {
		t.Fatalf("guest grant %+v", g)
	}

	var sv protocol.SessionView
	desk.ok(protocol.OpSessionGet, protocol.TerminalArgs{Terminal: "pc-01"}, &sv)
	if sv.Grant == nil || sv.Grant.ID != g.ID || sv.Rules.SessionMinutes != protocol.DefaultRules().SessionMinutes {
		t.Fatalf("session view %+v", sv)
	}
	var ng protocol.Grant
	desk.ok(protocol.OpSessionTime, protocol.SessionTimeArgs{Terminal: "pc-01", Minutes: 5}, &ng)
	up := a.expect(protocol.TypeGrant).(*protocol.GrantUpdate)
	if up.Grant.ID != g.ID || !up.Grant.Ends.Equal(ng.Ends) || !ng.Ends.Equal(g.Ends.Add(5*time.Minute)) {
		t.Fatalf("update %+v, answer %+v, first %+v", up.Grant, ng, g)
	}
	rows := sh.auditRows(t)
	var sawTime, sawGuest bool
	for _, r := range rows {
		sawTime = sawTime || (r.Action == protocol.AuditSessionTime && r.Actor == "staff:dan" && strings.Contains(r.Detail, g.ID))
		sawGuest = sawGuest || (r.Action == protocol.AuditGuestCreate && r.Actor == "staff:dan")
		for _, c := range passes.Codes {
			if strings.Contains(r.Detail, c) {
				t.Errorf("an audit row holds a guest code: %s", r.Detail)
			}
		}
	}
	if !sawTime || !sawGuest {
		t.Errorf("audit rows: session.time %v, guest.create %v", sawTime, sawGuest)
	}

	rules := protocol.Rules{SessionMinutes: 30, DailyMinutes: 90, CutoffMinutes: 15}
	for _, c := range []struct {
		op   protocol.StaffOp
		args any
	}{{protocol.OpRulesGet, protocol.RulesArgs{Branch: "Main"}}, {protocol.OpRulesSet, protocol.RulesSetArgs{Branch: "Main", Rules: &rules}}} {
		if r := desk.do(c.op, c.args); r.OK || r.Error != staffapi.ErrForbidden.Error() {
			t.Errorf("desk %s: %+v", c.op, r)
		}
		sh.wantAudit(t, "staff:dan", string(c.op), "refused: admin only")
	}
	admin.ok(protocol.OpRulesSet, protocol.RulesSetArgs{Branch: "Main", Rules: &rules}, nil)
	var br protocol.BranchRules
	admin.ok(protocol.OpRulesGet, protocol.RulesArgs{Branch: "Main"}, &br)
	if !br.Own || br.Rules.SessionMinutes != 30 || br.Rules.CutoffMinutes != 15 {
		t.Errorf("rules %+v", br)
	}
	sh.wantAudit(t, "staff:ann", string(protocol.AuditRulesSet), "{")
	bad := protocol.Rules{SessionMinutes: -5}
	if r := admin.do(protocol.OpRulesSet, protocol.RulesSetArgs{Branch: "Main", Rules: &bad}); r.OK {
		t.Error("bad rules accepted")
	}
}
