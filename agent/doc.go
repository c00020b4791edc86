// Package agent is the composition root of carrel-agent: New builds, in one
// function that reads top to bottom, the state directory, the outbox, the
// status collector, the components the configuration enables (download guard,
// exec guard, browser policies, the seat: session manager, wipe engine and the
// one logon gate they share), the self-test that proves them (nightly and on
// the console's selftest command, agent/selftest) and last the link to the
// hub; Run runs them all
// under one context. cmd/carrel-agent only parses flags and calls New and Run.
//
// Staff commands reach a component through Agent.handler, the agent's command
// table; the link checks the action against the closed set before asking it.
//
// Lifecycle: New checks the configuration and the state directory (refusing one
// that others can read), loads the enrolled identity and resumes an unfinished
// wipe; Run runs everything until its context is cancelled, then waits for the
// components to return, at most StopTimeout. A component that fails stops the
// agent (the service manager restarts it); cancellation is not an error.
//
// It is not a plug-in system: the set of components is fixed in New.
// Limitations (2026-12): components are not restarted individually; a failing
// one takes the agent down and the service manager's recovery actions restart
// the process.
package agent
