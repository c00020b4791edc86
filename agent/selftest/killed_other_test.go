//go:build !linux

package selftest

const envKilledChild = "CARREL_SELFTEST_KILLED"

// killedChild: the killed-self-test test runs on Linux only.
func killedChild() {}
