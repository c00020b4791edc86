//go:build unix

package template

import "syscall"

func mkfifo(p string) error { return syscall.Mkfifo(p, 0o644) }
