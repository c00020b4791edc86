//go:build darwin

package downloads

func defaultRoots() []string {
	return []string{"/Users/*", "/private/tmp", "/private/var/tmp"}
}

func defaultExclude() []string { return []string{"/Users/*/Library/Caches"} }

func defaultQuarantineDir() string { return "/Library/Application Support/Carrel/quarantine" }

func removableRoots() []string { return ExpandRoots([]string{"/Volumes/*"}) }
