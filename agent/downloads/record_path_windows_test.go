//go:build windows

package downloads

const absPath = `C:\\Users\\patron\\Downloads\\setup.exe`
