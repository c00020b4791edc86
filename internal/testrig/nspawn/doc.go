// Package nspawn boots a throwaway systemd container for tests that need the
// real thing: logind sessions, systemd units, dpkg, useradd. The container's root
// is an overlay whose lower layer is this machine's / and whose upper layer is a
// tmpfs in a private mount namespace, so nothing a test does inside it (users,
// packages, files) reaches the machine, and everything vanishes at Close.
//
// It is for tests only. It needs root and systemd-nspawn, nsenter and unshare
// (Debian: systemd-container, util-linux); it works on a host whose PID 1 is not
// systemd. Limitations (2026-11): only Linux; the container shares the host's
// network namespace; files the host changes under / after Boot may or may not
// show through the overlay, so copy what a test needs with CopyIn. On other
// OSes Boot skips the test and Start returns ErrUnavailable.
package nspawn
