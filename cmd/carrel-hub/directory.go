package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/carrel-kiosk/carrel/internal/directory"
)

const directoryUsage = `usage: carrel-hub directory check --user NAME [--password-stdin] [--data DIR]

Checks the staff directory settings in <data>/` + directory.FileName + ` against the directory:
finds NAME's entry with the hub's service account and says which Carrel role its groups give.
With --password-stdin it also binds as NAME with the password on stdin's first line.

Staff accounts that sign in through the directory are made with
'carrel-hub admin create --user NAME --directory'. An example ` + directory.FileName + `:

` + directory.Example

func runDirectory(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, directoryUsage)
			return 0
		}
		fmt.Fprint(stderr, directoryUsage)
		return 2
	}
	fs, data := newFlags("directory check", "--user NAME [--password-stdin]", stderr)
	user := fs.String("user", "", "the staff member's directory user name (required)")
	withPW := fs.Bool("password-stdin", false, "also check the password on the first line of stdin")
	if code := parse(fs, args[1:], exactly(0)); code >= 0 {
		return code
	}
	if *user == "" {
		fmt.Fprintln(stderr, "carrel-hub directory check: --user is required")
		return 2
	}
	path := filepath.Join(*data, directory.FileName)
	cfg, err := directory.LoadFile(path)
	if err != nil {
		return fail(stderr, err)
	}
	d, err := directory.New(cfg)
	if err != nil {
		return fail(stderr, err)
	}
	var id directory.Identity
	if *withPW {
		line, rerr := bufio.NewReader(stdin).ReadString('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return fail(stderr, rerr)
		}
		id, err = d.Authenticate(ctx, *user, strings.TrimRight(line, "\r\n"))
	} else {
		id, err = d.Check(ctx, *user)
	}
	if id.DN != "" {
		fmt.Fprintf(stdout, "entry:  %s\n", id.DN)
	}
	for _, g := range id.Groups {
		fmt.Fprintf(stdout, "group:  %s\n", g)
	}
	if err != nil {
		return fail(stderr, err)
	}
	if *withPW {
		fmt.Fprintln(stdout, "password: accepted by the directory")
	}
	fmt.Fprintf(stdout, "role:   %s\n", id.Role)
	return 0
}
