//go:build !unix

package browserpolicy

import (
	"io/fs"
	"os"
)

// Policy files are not where Windows policies live (the registry is); these
// keep the shared file code building. ACLs of Program Files are Windows' own.

func fileModeOK(fs.FileInfo) bool { return true }
func chownRoot(*os.File) error    { return nil }
func hardenDir(string) error      { return nil }
