//go:build linux

package execguard

func init() { helperMain = HelperMain }
