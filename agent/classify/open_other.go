//go:build !unix

package classify

// openNoFollow is empty where open has no such flag; File compares the
// opened file with its Lstat (os.SameFile) instead.
const openNoFollow = 0
