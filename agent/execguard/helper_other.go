//go:build !linux

package execguard

import (
	"fmt"
	"io"
)

// HelperMain exists only on Linux, where the fanotify loop needs a process of
// its own; elsewhere it says so and returns 2.
func HelperMain(_ io.Reader, stdout io.Writer) int {
	fmt.Fprintln(stdout, `{"error":"execguard: no helper on this platform"}`)
	return 2
}
