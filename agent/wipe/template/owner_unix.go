//go:build unix

package template

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// modeMask is the part of a mode that Compare checks.
const modeMask = 0o7777

// noFollow makes an open fail on a symlink.
const noFollow = syscall.O_NOFOLLOW

func owner(info fs.FileInfo) (uid, gid int) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return -1, -1
	}
	return int(st.Uid), int(st.Gid)
}

func lchown(r *os.Root, name string, uid, gid int) error { return r.Lchown(name, uid, gid) }

func fchown(f *os.File, uid, gid int) error { return f.Chown(uid, gid) }

func checkOwnerOf(info fs.FileInfo, e *Entry, uid, gid int) string {
	u, g := owner(info)
	if wu, wg := ownerID(e.Owner, uid), ownerID(e.Group, gid); u != wu || g != wg {
		return fmt.Sprintf("owner %d:%d, template has %d:%d", u, g, wu, wg)
	}
	return ""
}
