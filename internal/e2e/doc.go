// Package e2e holds the end-to-end tests that build the real carrel-hub and
// carrel-agent binaries, run them as separate processes on loopback with real TLS,
// real websockets and a real SQLite store, and check what IT and staff would check.
// It has no code of its own beyond test helpers.
package e2e
