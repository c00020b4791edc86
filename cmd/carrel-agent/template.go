package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/carrel-kiosk/carrel/agent/wipe/template"
)

func runTemplate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	usage := func(w io.Writer) {
		fmt.Fprint(w, `Usage: carrel-agent template capture --from DIR --to TEMPLATE_DIR

Copies the directory DIR (a freshly set-up patron home: log in once as the
patron account, set the desktop up, log out) into TEMPLATE_DIR, which must not
exist or be empty, and writes TEMPLATE_DIR/manifest.json: every entry's path,
type, mode, size, sha256 and owner ("patron" for entries owned by DIR's owner,
else the numeric id). Every wipe rebuilds the home from it and checks the result
against the manifest. Only directories, files and symlinks are accepted; names
must be UTF-8; setuid and setgid files are refused.

Point the agent's [wipe] template_dir at TEMPLATE_DIR (default
/var/lib/carrel/template). Prints a JSON summary; exit 0 on success, 1 on error,
2 on bad usage.
`)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] != "capture" {
		fmt.Fprintf(stderr, "carrel-agent template: unknown subcommand %q\n", args[0])
		usage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("template capture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr) }
	from := fs.String("from", "", "the fresh patron home to capture")
	to := fs.String("to", "", "the template directory to write")
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *from == "" || *to == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "carrel-agent template capture: --from and --to are required")
		return 2
	}
	t, err := template.Capture(*from, *to)
	if err != nil {
		fmt.Fprintln(stderr, "carrel-agent template capture:", err)
		return 1
	}
	var files, bytes int64
	for _, e := range t.Manifest.Entries {
		if e.Type == template.TypeFile {
			files++
			bytes += e.Size
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.Encode(map[string]any{"template": t.Dir, "entries": len(t.Manifest.Entries), "files": files, "bytes": bytes})
	return 0
}
