package staffapi

import (
	"errors"
	"strconv"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// The patron session's ops: a PC's session and rules, adding time (desk),
// guest passes (desk), branch rules and hours (admin), the ILS link (desk).
// Changes are audited by the store with the member as actor; refusals here.

func opSessionGet(x *staffCall) (any, error) {
	var a protocol.TerminalArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	return x.srv.hub.PatronSession(x.c.ctx, a.Terminal)
}

func opSessionTime(x *staffCall) (any, error) {
	var a protocol.SessionTimeArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	g, err := x.srv.hub.AddTime(x.c.ctx, a.Terminal, a.Minutes, x.actor)
	if err != nil {
		x.refuse(protocol.Clip(a.Terminal, 64), "failed: "+err.Error(), map[string]string{protocol.AuditKeyMinutes: strconv.Itoa(a.Minutes)})
		if errors.Is(err, store.ErrNotFound) {
			return nil, errors.New("no such terminal")
		}
		return nil, err
	}
	x.srv.log.Info("Session time changed", "terminal", a.Terminal, "minutes", a.Minutes, "by", x.user)
	return g, nil
}

func opGuestCreate(x *staffCall) (any, error) {
	var a protocol.GuestCreateArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	v, err := x.srv.hub.GuestPasses(x.c.ctx, a, x.actor)
	if err != nil {
		x.refuse("", "failed: "+err.Error(), map[string]string{protocol.AuditKeyCount: strconv.Itoa(a.Count)})
		return nil, err
	}
	return v, nil
}

func opRulesGet(x *staffCall) (any, error) {
	var a protocol.RulesArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	if err := x.admin(protocol.Clip(a.Branch, 64), nil); err != nil {
		return nil, err
	}
	return x.srv.hub.PatronRules(x.c.ctx, a.Branch)
}

func opRulesSet(x *staffCall) (any, error) {
	var a protocol.RulesSetArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	target := protocol.Clip(a.Branch, 64)
	if err := x.admin(target, nil); err != nil {
		return nil, err
	}
	if err := x.srv.hub.SetPatronRules(x.c.ctx, a.Branch, a.Rules, x.actor); err != nil {
		x.refuse(target, "failed: "+err.Error(), nil)
		return nil, err
	}
	return nil, nil
}

func opILSLink(x *staffCall) (any, error) {
	if err := x.args(&struct{}{}); err != nil {
		return nil, err
	}
	return x.srv.hub.ILSLink(), nil
}
