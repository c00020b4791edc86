package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func runRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("revoke", "TERMINAL (ID or name)", stderr)
	if code := parse(fs, args, exactly(1)); code >= 0 {
		return code
	}
	target := fs.Arg(0)
	if ctl, err := hub.Dial(ctx, *data); err == nil {
		r, err := ctl.Revoke(ctx, target)
		if err != nil {
			return fail(stderr, err)
		}
		if r.Error != "" {
			return fail(stderr, errors.New(r.Error))
		}
		fmt.Fprintf(stdout, "revoked %s (%s); its connection was dropped\n", protocol.Printable(r.Name), protocol.Printable(r.ID))
		return 0
	}
	_, st, err := openExisting(*data)
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	t, err := st.FindTerminal(ctx, target)
	if err != nil {
		return fail(stderr, err)
	}
	if err := st.Revoke(ctx, t.ID, localActor()); err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "revoked %s (%s)\n", protocol.Printable(t.Name), protocol.Printable(t.ID))
	return 0
}

func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("command", "TERMINAL ACTION [key=value...]\n\nactions: "+actionList(), stderr)
	timeout := fs.Duration("timeout", 3*time.Minute, "give up waiting for the answer after this long")
	if code := parse(fs, args, func(n int) bool { return n >= 2 }); code >= 0 {
		return code
	}
	action := protocol.Action(fs.Arg(1))
	if !action.Known() {
		fmt.Fprintf(stderr, "carrel-hub command: unknown action %q (one of: %s)\n", action, actionList())
		return 2
	}
	var cmdArgs map[string]string
	for _, kv := range fs.Args()[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			fmt.Fprintf(stderr, "carrel-hub command: argument %q is not key=value\n", kv)
			return 2
		}
		if cmdArgs == nil {
			cmdArgs = map[string]string{}
		}
		cmdArgs[k] = v
	}
	if _, err := os.Stat(*data); err != nil {
		return fail(stderr, fmt.Errorf("no hub data in %s: run 'carrel-hub serve' first to create the CA", *data))
	}
	ctl, err := hub.Dial(ctx, *data)
	if err != nil {
		return fail(stderr, fmt.Errorf("%w: commands go through the running hub", err))
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	resp, err := ctl.Command(ctx, protocol.CommandArgs{Terminal: fs.Arg(0), Action: action, Args: cmdArgs})
	if err != nil {
		return fail(stderr, err)
	}
	if resp.Error != "" {
		return fail(stderr, errors.New(resp.Error))
	}
	r := resp.Result
	if !r.OK {
		fmt.Fprintf(stdout, "%s: refused or failed: %s\n", action, protocol.Printable(r.Error))
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok", action)
	if r.Output != "" {
		fmt.Fprintf(stdout, ": %s", protocol.Printable(r.Output))
	}
	fmt.Fprintln(stdout)
	return 0
}

func actionList() string {
	s := make([]string, len(protocol.Actions))
	for i, a := range protocol.Actions {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("backup", "FILE (must not exist)", stderr)
	if code := parse(fs, args, exactly(1)); code >= 0 {
		return code
	}
	_, st, err := openExisting(*data)
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	if err := st.Backup(ctx, fs.Arg(0)); err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "backup written to %s\n", fs.Arg(0))
	return 0
}

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, "usage: carrel-hub audit verify [--data DIR]")
			return 0
		}
		fmt.Fprintln(stderr, "usage: carrel-hub audit verify [--data DIR]")
		return 2
	}
	fs, data := newFlags("audit verify", "", stderr)
	if code := parse(fs, args[1:], exactly(0)); code >= 0 {
		return code
	}
	_, st, err := openExisting(*data)
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	n, err := st.VerifyAudit(ctx)
	if err != nil {
		return fail(stderr, fmt.Errorf("%w (%d rows before it verified)", err, n))
	}
	seq, head, err := st.AuditHead(ctx)
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "audit log intact: %d rows verified\nhead: row %d, hash %x (record it elsewhere to detect rows cut off the end)\n", n, seq, head)
	return 0
}
