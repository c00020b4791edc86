#!/usr/bin/env bash
# Usage: .ci/wine/setup.sh [PREFIX_DIR]
# Creates a throwaway 64-bit Wine prefix where Go >= 1.24 Windows binaries run:
# builds the ProcessPrng shim (bcryptprimitives.c) with mingw, copies it into the
# prefix's system32 (the exe's own folder is not searched), and warms the
# wineserver so `go test -exec wine` does not hang waiting for it.
# Needs: wine wine64 gcc-mingw-w64-x86-64-win32 (Debian). Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -ge 1 ]; then export CARREL_WINEPREFIX="$1"; fi
. "$here/env.sh"

for tool in wine wineserver x86_64-w64-mingw32-gcc; do
  command -v "$tool" >/dev/null || { echo "setup.sh: $tool not found (apt-get install --no-install-recommends wine wine64 gcc-mingw-w64-x86-64-win32)" >&2; exit 1; }
done

mkdir -p "$WINEPREFIX"
dll="$WINEPREFIX/bcryptprimitives.dll"
if [ ! -f "$dll" ] || [ "$here/bcryptprimitives.c" -nt "$dll" ]; then
  x86_64-w64-mingw32-gcc -O2 -shared -s -o "$dll" "$here/bcryptprimitives.c" -ladvapi32
fi
if [ ! -d "$WINEPREFIX/drive_c/windows/system32" ]; then
  echo "setup.sh: creating Wine prefix $WINEPREFIX"
  wineboot -i </dev/null >/dev/null 2>&1 || wine cmd /c exit 0 </dev/null >/dev/null 2>&1 || true
fi
sys32="$WINEPREFIX/drive_c/windows/system32"
[ -d "$sys32" ] || { echo "setup.sh: prefix $WINEPREFIX has no system32 after wineboot" >&2; exit 1; }
cp -f "$dll" "$sys32/bcryptprimitives.dll"
# Keep the wineserver up between test binaries, and make sure it is running now.
wineserver -p 300 </dev/null >/dev/null 2>&1 || true  # exits 2 when one is already running
wine cmd /c exit 0 </dev/null >/dev/null 2>&1
echo "setup.sh: Wine prefix ready at $WINEPREFIX"
