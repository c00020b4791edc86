package session

import (
	"errors"
	"testing"
)

func TestPolicy(t *testing.T) {
	p := &Policy{
		Users: []string{"patron1", "staff2", "root"},
		Group: "patrons",
		Staff: []string{"staff2"},
		groupsOf: func(name string) ([]string, error) {
			switch name {
			case "guest7":
				return []string{"guest7", "patrons"}, nil
			case "broken":
				return nil, errors.New("nss down")
			}
			return []string{name}, nil
		},
	}
	tests := []struct {
		s    Session
		want bool
	}{
		{Session{User: "patron1", UID: "1001"}, true},
		{Session{User: "guest7", UID: "1007"}, true},     // by group
		{Session{User: "staff2", UID: "1002"}, false},    // staff wins over the patron list
		{Session{User: "root", UID: "0"}, false},         // listed, but root never
		{Session{User: "patron1", UID: "0"}, false},      // uid 0 under any name
		{Session{User: "Administrator", UID: ""}, false}, // Windows built-in
		{Session{User: "broken", UID: "1009"}, false},    // lookup failure: not a patron
		{Session{User: "someone", UID: "1010"}, false},   // neither listed nor in the group
		{Session{User: "", UID: "1011"}, false},          // no name
	}
	for _, tt := range tests {
		if got := p.IsPatron(tt.s); got != tt.want {
			t.Errorf("IsPatron(%+v) = %v, want %v", tt.s, got, tt.want)
		}
	}
	// Without a group, only the list counts.
	p.Group = ""
	if p.IsPatron(Session{User: "guest7", UID: "1007"}) {
		t.Error("group member is a patron with no group configured")
	}
}
