package winetest

import "golang.org/x/sys/windows/registry"

// Under reports whether this runs under Wine (Wine keeps its settings in
// HKCU\Software\Wine; Windows has no such key).
func Under() bool {
	k, err := registry.OpenKey(registry.CURRENT_USER, `Software\Wine`, registry.QUERY_VALUE)
	if err != nil {
		return false
	}
	k.Close()
	return true
}
