// Package loadgen measures Carrel at fleet scale on one machine: it enrolls
// thousands of simulated agents, runs them against a hub and reports what the
// hub costs (CPU, resident memory), how fast it is (status-to-store latency, staff
// command round trip) and whether every event arrived exactly once; it also kills
// and restarts the hub under load (the reconnect storm), runs a bare
// gorilla/websocket TLS server as a memory baseline, and samples a real agent
// process's footprint.
//
// Simulated agents are real agents minus the OS parts: each has its own enrolled
// identity (link.Enroll, kept in its own state directory), its own durable outbox
// (agent/outbox) and runs the real link client (link.New, Run) over mutual TLS on
// loopback. Only the status source is synthetic (a fixed status plus a probe value
// used to time status delivery). The link keeps no globals, so many agents fit in
// one process; the limit is open files (a socket and the outbox log per agent, and
// 20,000 descriptors per process on the project machines), so agents are split
// over child processes of at most a few thousand each.
//
// It is a measuring tool for developers and CI, not part of a deployment, and it
// only ever connects to 127.0.0.1 in the project's own runs. Limitations
// (2026-11): process figures come from /proc and are Linux only.
package loadgen
