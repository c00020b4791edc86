package protocol

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxBranch is the longest branch name, in bytes.
const MaxBranch = 64

// ValidBranch checks a branch name: "" (no branch), or 1 to MaxBranch bytes of
// letters, digits, spaces and - _ . / ' ( ), not starting or ending with a space.
// A branch is a named group of PCs (a library's site or a room); time rules,
// reports and API keys attach to it. Names are shown to staff and patrons, so
// they are printable by construction.
func ValidBranch(name string) error {
	if name == "" {
		return nil
	}
	if len(name) > MaxBranch {
		return fmt.Errorf("branch name is longer than %d bytes", MaxBranch)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("branch name is not UTF-8")
	}
	if name[0] == ' ' || name[len(name)-1] == ' ' {
		return fmt.Errorf("branch name %q starts or ends with a space", name)
	}
	for _, r := range name {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r):
		case r == ' ', r == '-', r == '_', r == '.', r == '/', r == '\'', r == '(', r == ')':
		default:
			return fmt.Errorf("branch name %q has %q; use letters, digits, spaces and - _ . / ' ( )", Printable(name), r)
		}
	}
	return nil
}

// BranchArgs is the body of POST PathControlBranch: move a terminal (ID or
// name) to a branch ("" for none).
type BranchArgs struct {
	Terminal string `json:"terminal"`
	Branch   string `json:"branch"`
}
