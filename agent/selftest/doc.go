// Package selftest proves, on the PC itself, that each of the agent's guards
// holds: it exercises them with harmless canaries and reports, per check,
// pass, fail with the reason, not applicable on this OS, or not testable now.
// Nothing is ever skipped without saying so.
//
// A check is a value (Check: name, what it proves, what it does per OS, the
// configuration section of its guard, a run function); Checks lists them in
// order, and the README's table is made from the same words. Run runs them
// and returns a Report, which the agent sends to the hub as a
// selftest.done event (an alert when a check failed) and as the Status's
// Proof; `carrel-agent selftest` prints it.
//
// The checks observe the guards from outside, as a patron would meet them:
// a canary is placed and what happens to it is watched (the file leaves the
// folder and a quarantine record names it; exec fails with the guard's
// error; a PAM login of the canary account is refused). So the command line
// proves the running service's guards exactly as the service's own run does.
//
// Canaries never touch patron data or a real account: canary files are
// written only into shared temp dirs the guards cover (never a patron's home)
// under names starting with CanaryPrefix and a random nonce; the canary
// account (Linux: carrel-canary, no password, no shell) is made for the check
// and removed after it, and an account of that name the self-test did not
// make is left alone (the check then fails). Every canary is written to a
// ledger in the self-test's private dir before it exists and struck off once
// it is gone, so a self-test killed half-way leaves entries that Cleanup
// (called at every agent start and before each run) removes.
//
// Limitations (2026-12): the lock-screen check needs the running seat (it is
// not testable from the command line) and a locked patron session (it never
// locks a patron out to test); its probe is tested against the real X11 lock
// screen on Xvfb (agent/overlay) and the seat's side with a fake controller,
// and on Windows under Wine on Xvfb (agent/overlay, the real launcher), not
// end to end in a running service with a patron's desktop. The wipe
// and logon-gate checks are built for Linux only (Windows says not
// testable now; macOS has no wipe). The Windows exec check copies the agent
// into %SystemRoot%\Temp and runs it before the download guard's settle time
// ends; Wine enforces no SRP, so under Wine that check fails, as it should.
// macOS has no before-exec enforcement: its exec check is not applicable.
package selftest
