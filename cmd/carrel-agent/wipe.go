package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/carrel-kiosk/carrel/agent/wipe"
)

// wipeOutput is the JSON the wipe command prints.
type wipeOutput struct {
	ID            string          `json:"id,omitempty"`
	User          string          `json:"user,omitempty"`
	Home          string          `json:"home,omitempty"`
	Mode          string          `json:"mode,omitempty"`
	FilesRemoved  int64           `json:"files_removed"`
	BytesRemoved  int64           `json:"bytes_removed"`
	MsUntilReady  int64           `json:"ms_until_ready"`
	MsUntilPurged int64           `json:"ms_until_purged"`
	Ready         bool            `json:"ready"`
	Verified      bool            `json:"verified"`
	Leftovers     []wipe.Leftover `json:"leftovers"`
	Refusals      []string        `json:"refusals"`
	Error         string          `json:"error,omitempty"`
}

func runWipe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	def := wipe.DefaultConfig()
	fs := flag.NewFlagSet("wipe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: carrel-agent wipe --home DIR --template DIR [--user NAME] [--trash DIR] [--journal DIR]

Wipes one patron home exactly as the agent does at logout, and prints a JSON
report. Steps, each journaled so an interrupted wipe is finished by the agent at
its next start: hold logons of the account (its expiry date is set to the past
and restored afterwards), end all its processes, rename the home into a
root-only trash next to it, rebuild it from the template, clear the account's
files from the shared temp dirs, verify the home against the template, allow
logons again, then purge the trash.

It refuses (exit 1, nothing touched) a home that is "/", a system directory,
the agent's own directories, reached through a symlink, not owned by the
account, or an account that is not a patron (see --patron-group). Deletion
never follows symlinks and never crosses mount points; what cannot be removed
is listed in "leftovers" and the report says "verified": false (exit 1).

Report fields: files_removed, bytes_removed, ms_until_ready (logons allowed
again), ms_until_purged, ready, verified, leftovers (paths quoted), refusals.

Options:
`)
		fs.PrintDefaults()
	}
	home := fs.String("home", "", "the patron home to wipe (required)")
	tmpl := fs.String("template", def.TemplateDir, "template directory written by 'carrel-agent template capture'")
	user := fs.String("user", "", "the patron account (default: the owner of --home)")
	trash := fs.String("trash", "", "trash directory on the home's filesystem (default: .carrel-trash next to the home)")
	journal := fs.String("journal", def.JournalDir, "journal directory")
	group := fs.String("patron-group", def.PatronGroup, "members of this group may be wiped")
	patrons := fs.String("patrons", "", "comma-separated account names that may be wiped, besides the group")
	temps := fs.String("temp-dirs", strings.Join(def.TempDirs, ","), "comma-separated shared temp dirs to clear of the account's files")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *home == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "carrel-agent wipe: --home is required; see --help")
		return 2
	}
	abs := func(p string) string {
		if p == "" {
			return ""
		}
		a, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		return a
	}
	cfg := def
	cfg.TemplateDir, cfg.JournalDir, cfg.TrashDir = abs(*tmpl), abs(*journal), abs(*trash)
	cfg.PatronGroup = *group
	cfg.PatronUsers = splitList(*patrons)
	cfg.TempDirs = splitList(*temps)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	out := wipeOutput{Leftovers: []wipe.Leftover{}, Refusals: []string{}}
	report := func(code int) int {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
		return code
	}
	eng, err := wipe.New(cfg, log, nil)
	if err != nil {
		fmt.Fprintln(stderr, "carrel-agent wipe:", err)
		out.Error = err.Error()
		return report(1)
	}
	rep, err := eng.Wipe(ctx, wipe.Scope{User: *user, Home: abs(*home)})
	out.ID, out.User, out.Home, out.Mode = rep.ID, rep.User, rep.Home, rep.Mode
	out.MsUntilReady, out.Ready, out.Verified = rep.MsUntilReady, rep.Ready, rep.Verified
	out.Leftovers = append(out.Leftovers, rep.Leftovers...)
	out.Refusals = append(out.Refusals, rep.Refusals...)
	if errors.Is(err, wipe.ErrRefused) {
		fmt.Fprintln(stderr, "carrel-agent wipe: refused:", err)
		return report(1)
	}
	if err != nil {
		fmt.Fprintln(stderr, "carrel-agent wipe:", err)
		out.Error = err.Error()
		return report(1)
	}
	if !rep.Ready {
		fmt.Fprintln(stderr, "carrel-agent wipe: dirty: logons of the account stay held until a wipe verifies")
		return report(1)
	}
	prep, err := eng.Purge(ctx, rep.ID)
	out.FilesRemoved, out.BytesRemoved, out.MsUntilPurged = prep.FilesRemoved, prep.BytesRemoved, prep.MsUntilPurged
	out.Leftovers = append(out.Leftovers, prep.Leftovers...)
	if err != nil {
		fmt.Fprintln(stderr, "carrel-agent wipe: purge:", err)
		out.Error, out.Verified = err.Error(), false
		return report(1)
	}
	if !prep.Purged {
		out.Verified = false
		fmt.Fprintln(stderr, "carrel-agent wipe: the trash could not be purged completely; the agent retries at its next start")
		return report(1)
	}
	return report(0)
}

func splitList(s string) []string {
	out := []string{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
