// Package service installs, controls and hosts carrel-agent as a system service.
//
// It has three jobs:
//
//   - Manager installs, uninstalls, starts, stops, restarts and queries the
//     service through github.com/kardianos/service (Windows SCM, systemd, launchd,
//     or whichever init system kardianos detects). Install is idempotent: it
//     writes the preseed (hub URL, CA fingerprint, enrollment token), creates the
//     state and quarantine directories readable by the service account only,
//     registers the service with restart-on-failure, and starts it.
//   - Host is the body of the hidden `carrel-agent service` entry point that the
//     installed service runs. On Windows it calls golang.org/x/sys/windows/svc.Run
//     directly (kardianos's service detection is false under Wine, and kardianos
//     never passes session changes on); elsewhere it runs under the signal
//     context. Before the agent runs, Host finishes provisioning: if the agent is
//     not enrolled yet it enrolls from the preseed, retrying with capped
//     exponential backoff, so a PC installed while the hub was unreachable
//     enrolls on its own later.
//   - The layout of an installed agent (Paths, SystemdUnit, the registry key) is
//     written down here once, so the installer package builds MSI and .deb files
//     that agree with what `carrel-agent install` does by hand.
//
// The preseed flow: whoever installs the agent (the MSI from its public
// properties HUB_URL, HUB_FINGERPRINT and ENROLL_TOKEN; the .deb postinst from
// /etc/carrel/enroll.env or the same names in its environment; `carrel-agent
// install --hub --fingerprint --token`) stores the three values in the preseed
// store: the registry key HKLM\SOFTWARE\Carrel on Windows, the file
// Paths.Preseed (mode 0600) elsewhere. At every start the service checks
// whether the agent is enrolled; if not it enrolls from the preseed and, once
// enrolled, erases the token from the preseed (the hub URL and fingerprint stay,
// they are not secret).
//
// It is not the agent itself: what the service runs is the agent's Run function
// passed in by package main.
//
// Limitations (2026-11): macOS is installed as a launchd daemon through kardianos
// but not tested in CI; there is no macOS .pkg. Session changes are delivered on
// Windows only (Linux uses logind, see agent/session).
package service
