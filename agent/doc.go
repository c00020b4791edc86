// Package agent is the composition root of carrel-agent: it opens the state
// directory, the outbox, the status collector and the link to the hub, lets the
// command line wire in the other components (download guard, session wipe,
// lock...) and their staff-command handlers, and runs them all under one
// context.
//
// Lifecycle: New checks the configuration and the state directory (refusing one
// that others can read) and loads the enrolled identity; Handle and Add register
// handlers and components; Run runs everything until its context is cancelled,
// then waits for the components to return, at most StopTimeout. A component that
// fails stops the agent (the service manager restarts it); cancellation is not an
// error.
//
// It is not a plug-in system: the set of components is fixed at build time by
// cmd/carrel-agent. Limitations (2026-11): components are not restarted
// individually; a failing one takes the agent down and the service manager's
// recovery actions restart the process.
package agent
