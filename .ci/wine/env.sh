# Sourced by setup.sh and gotest.sh: the Wine environment the Go tests run in.
# CARREL_WINEPREFIX picks the prefix (default: a directory under /tmp, never ~/.wine).
export WINEPREFIX="${CARREL_WINEPREFIX:-${TMPDIR:-/tmp}/carrel-wine-prefix}"
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
export WINEARCH=win64
# Wine shows unix mode bits as the DACLs it reports, and the files it creates do
# not inherit the directory's DACL as on Windows. A umask of 077 (it must be set
# before the wineserver starts: the server creates the files) stands in for that
# inheritance, so files the agent makes in its state dir read as private.
umask 077
