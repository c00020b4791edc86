// Package e2e holds the end-to-end tests that build the real carrel-hub and
// carrel-agent binaries, run them as separate processes on loopback with real TLS,
// real websockets and a real SQLite store, and check what IT and staff would check.
// Its only non-test code is AgentConfig, the sandboxed agent configuration
// every test that runs a real carrel-agent on this machine uses.
package e2e
