//go:build unix

package classify

import "syscall"

// openNoFollow makes open fail on a symbolic link swapped in after Lstat, and
// keeps a FIFO swapped in from blocking the open.
const openNoFollow = syscall.O_NOFOLLOW | syscall.O_NONBLOCK
