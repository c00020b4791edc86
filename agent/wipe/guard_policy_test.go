package wipe

import (
	"errors"
	"testing"
)

// The engine's own patron check: staff_users always refused, NoPatronGroup
// means membership of no group makes a patron, a listed name does.
func TestCheckAccountPolicy(t *testing.T) {
	e := &Engine{cfg: Config{MinUID: 1000, PatronUsers: []string{"patron1", "staff1"}, PatronGroup: "patrons", StaffUsers: []string{"staff1"}}}
	for _, c := range []struct {
		a  Account
		ok bool
	}{
		{Account{Name: "patron1", UID: 1001}, true},
		{Account{Name: "guest", UID: 1002, Groups: []string{"patrons"}}, true},
		{Account{Name: "staff1", UID: 1003, Groups: []string{"patrons"}}, false}, // listed both ways: staff wins
		{Account{Name: "other", UID: 1004, Groups: []string{"users"}}, false},
		{Account{Name: "patron1", UID: 999}, false}, // a system uid
	} {
		err := e.checkAccount(c.a)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrRefused)) {
			t.Errorf("%+v: %v", c.a, err)
		}
	}
	e.cfg.PatronGroup = NoPatronGroup
	if err := e.checkAccount(Account{Name: "guest", UID: 1002, Groups: []string{"patrons", NoPatronGroup}}); err == nil {
		t.Error("with NoPatronGroup a group member was accepted")
	}
	if err := e.checkAccount(Account{Name: "patron1", UID: 1001}); err != nil {
		t.Errorf("with NoPatronGroup a listed patron was refused: %v", err)
	}
}
