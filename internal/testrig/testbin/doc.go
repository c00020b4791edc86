// Package testbin runs Carrel's real binaries in tests: it builds cmd/
// programs once per test process (Build), runs them as processes whose output
// is kept for the failure message (Start, Run), waits for what they do with a
// deadline and never a bare sleep (WaitFor), and drives a real
// `carrel-hub serve` on loopback with its own data directory (StartHub:
// tokens, terminals, stored events, stop and restart on the same address).
//
// It is for tests only: by convention only _test.go files import it, and
// nothing it does belongs in a shipped binary (it fails tests through
// testing.TB). A package that calls Build calls Main from its TestMain, so that
// the binaries are removed when the test process ends.
//
// Limitations (2026-11): processes are stopped with SIGINT, so Start and Hub
// work on Linux and macOS only; Build cross-compiles for any GOOS.
package testbin
