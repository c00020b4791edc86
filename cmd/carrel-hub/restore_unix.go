//go:build !windows

package main

import (
	"fmt"
	"os"
	"syscall"
)

// ownLike gives path the owner and group of dir (when run as root on a data
// directory that belongs to the hub's own user).
func ownLike(path, dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return nil
	}
	if err := os.Lchown(path, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("own %s: %w", path, err)
	}
	return nil
}
