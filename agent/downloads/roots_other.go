//go:build !linux && !windows && !darwin

package downloads

func defaultRoots() []string       { return nil }
func defaultExclude() []string     { return nil }
func defaultQuarantineDir() string { return "/var/lib/carrel/quarantine" }
func removableRoots() []string     { return nil }
