// Package hubservice installs, controls and hosts carrel-hub as a system
// service, and writes down once the layout of an installed hub (its name, user,
// data directory and systemd unit) so that the .deb the installer builds and
// `carrel-hub install` agree.
//
//   - SystemdUnit is the hardened unit: the hub runs as its own system user
//     (the .deb's carrel-hub), may write only its data directory, may bind a
//     port below 1024 and nothing more, and has LimitNOFILE=65536 (one
//     descriptor per agent connection: 20,000 agents and room to spare).
//   - Manager is `carrel-hub install|uninstall|start|stop|status` through
//     github.com/kardianos/service (systemd, sysv, the Windows service control
//     manager), for a Linux server without the package and for the Windows
//     "front desk PC is the hub" case.
//   - RunService is the body of the hidden `carrel-hub service` entry point the
//     Windows service runs: it calls golang.org/x/sys/windows/svc.Run directly
//     (kardianos's detection of a service is false under Wine); elsewhere it
//     just runs.
//
// It is not the hub: what the service runs is the function package main passes.
//
// Limitations (2026-12): `carrel-hub install` on Linux runs the hub as root
// (with the same sandbox); only the .deb makes the carrel-hub user. The
// Windows service is built and vetted here but only its command line and
// configuration are tested (under Wine the SCM paths are the agent's, tested
// there); macOS is not a hub platform.
package hubservice
