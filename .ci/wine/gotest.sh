#!/usr/bin/env bash
# Usage: .ci/wine/gotest.sh PKG... [-- GO TEST FLAGS...]
# Runs the Windows (amd64) build of the packages' tests under Wine:
#   GOOS=windows GOARCH=amd64 go test -exec wine PKG...
# in the prefix setup.sh makes (created on first use). Extra go test flags go
# after "--" (e.g. -- -run TestX -v). No -race: the race detector needs cgo.
# Known Wine gaps (2026-11): os.RemoveAll fails (tests use a tolerant temp-dir
# helper), no NTFS alternate data streams, WTSEnumerateSessions returns nothing.
# Windows need an X display: without DISPLAY this starts a private Xvfb.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/env.sh"

pkgs=() flags=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; flags=("$@"); break; fi
  pkgs+=("$1"); shift
done
[ ${#pkgs[@]} -gt 0 ] || { echo "usage: $0 PKG... [-- GO TEST FLAGS...]" >&2; exit 2; }

if [ ! -f "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" ]; then
  "$here/setup.sh"
fi

# Wine draws windows only on an X display (the session helper's tests skip
# without one). Without DISPLAY, a private Xvfb serves this run: -displayfd
# picks a free display and writes its number once it accepts clients (EOF if
# it died first).
if [ -z "${DISPLAY:-}" ] && command -v Xvfb >/dev/null; then
  fifo="$(mktemp -u)"
  mkfifo "$fifo"
  Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$fifo" </dev/null >/dev/null 2>&1 &
  xvfb_pid=$!
  trap 'kill "$xvfb_pid" 2>/dev/null || true' EXIT
  read -r xvfb_display <"$fifo" || true
  rm -f "$fifo"
  if [ -n "${xvfb_display:-}" ]; then
    export DISPLAY=":$xvfb_display"
  else
    echo "gotest.sh: Xvfb did not start; tests that need windows will skip" >&2
  fi
fi
wineserver -p 300 </dev/null >/dev/null 2>&1 || true  # exits 2 when one is already running
wine cmd /c exit 0 </dev/null >/dev/null 2>&1

cd "$here/../.."
GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go test -exec wine -timeout 15m ${flags[@]+"${flags[@]}"} "${pkgs[@]}"
