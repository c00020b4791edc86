//go:build linux

package downloads

func defaultRoots() []string {
	return []string{"/home/*", "/tmp", "/var/tmp", "/dev/shm"}
}

func defaultExclude() []string { return []string{"/home/*/.cache"} }

func defaultQuarantineDir() string { return "/var/lib/carrel/quarantine" }

func removableRoots() []string {
	return ExpandRoots([]string{"/media/*/*", "/run/media/*/*"})
}
