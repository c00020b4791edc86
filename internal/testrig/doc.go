// Package testrig is the folder of Carrel's test rigs: harnesses that build and
// run the real programs (testbin), boot systemd in a container (nspawn), run
// Windows code under Wine (winetest), start a private X server (xvfb), record the
// events components emit (eventrec), simulate a fleet of agents (loadgen), run a
// real hub in the test process with real-protocol terminals and staff accounts
// (hubrig), answer as a library's SIP2 server would, quirks and faults included
// (sip2emu), and the end-to-end tests themselves (e2e).
//
// Nothing under testrig is shipped: no production package may import it, and it is
// the one part of internal/ that may import agent/ (a rig drives the real agent
// code). internal/repocheck checks both rules.
package testrig
