//go:build !unix

package template

import (
	"io/fs"
	"os"
)

// modeMask is the part of a mode that Compare checks: on Windows only the
// read-only bit maps to a mode (0o200 for the owner).
const modeMask = 0o200

const noFollow = 0

// owner is not recorded on this OS (2026-11): every entry maps to the patron.
func owner(fs.FileInfo) (uid, gid int) { return -1, -1 }

func lchown(*os.Root, string, int, int) error { return nil }

func fchown(*os.File, int, int) error { return nil }

func checkOwnerOf(fs.FileInfo, *Entry, int, int) string { return "" }
