package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
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

func runBranch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("branch", "TERMINAL (ID or name) BRANCH (\"\" for none)\n\n"+
		"A branch is a named group of PCs (a site or a room); time rules, reports and API keys attach to it.\n"+
		"PCs can also land in one at enrollment: token create --branch NAME.", stderr)
	if code := parse(fs, args, exactly(2)); code >= 0 {
		return code
	}
	target, branch := fs.Arg(0), fs.Arg(1)
	if err := protocol.ValidBranch(branch); err != nil {
		fmt.Fprintf(stderr, "carrel-hub branch: %v\n", err)
		return 2
	}
	say := func(name, id string) int {
		if branch == "" {
			fmt.Fprintf(stdout, "%s (%s) is in no branch now\n", protocol.Printable(name), protocol.Printable(id))
		} else {
			fmt.Fprintf(stdout, "%s (%s) is in branch %q now\n", protocol.Printable(name), protocol.Printable(id), branch)
		}
		return 0
	}
	if ctl, err := hub.Dial(ctx, *data); err == nil {
		r, err := ctl.SetBranch(ctx, target, branch)
		if err != nil {
			return fail(stderr, err)
		}
		if r.Error != "" {
			return fail(stderr, errors.New(r.Error))
		}
		return say(r.Name, r.ID)
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
	if err := st.SetBranch(ctx, t.ID, branch, localActor()); err != nil {
		return fail(stderr, err)
	}
	return say(t.Name, t.ID)
}

func runWake(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("wake", "TERMINAL... (IDs or names)\n\n"+
		"Sends Wake-on-LAN to each PC through an awake PC on the subnet it was last seen on (a router does not\n"+
		"pass the broadcast). Each line says which PC relayed it, or that none is awake there; a PC not online\n"+
		"within 5 minutes is logged and audited as not woken. Needs the running hub.", stderr)
	if code := parse(fs, args, func(n int) bool { return n >= 1 }); code >= 0 {
		return code
	}
	ctl, err := hub.Dial(ctx, *data)
	if err != nil {
		return fail(stderr, err)
	}
	r, err := ctl.Wake(ctx, fs.Args())
	if err != nil {
		return fail(stderr, err)
	}
	if r.Error != "" {
		return fail(stderr, errors.New(r.Error))
	}
	code := 0
	for _, x := range r.Results {
		line := protocol.Printable(x.Name) + ": " + x.Outcome
		if x.Relay != "" {
			line += " (by " + protocol.Printable(x.Relay) + ", subnet " + x.Subnet + ")"
		} else if x.Subnet != "" {
			line += " (subnet " + x.Subnet + ")"
		}
		if x.Outcome != protocol.WakeSent && x.Outcome != protocol.WakeAlreadyOn {
			code = 1
		}
		fmt.Fprintln(stdout, line)
	}
	return code
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
	ca, st, err := openExisting(*data)
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	dst := fs.Arg(0)
	if err := st.Backup(ctx, dst); err != nil {
		return fail(stderr, err)
	}
	// The backup carries the signed head of the chain it holds: checked against
	// it later, a live chain that was cut short or rewound shows.
	head, err := signBackupHead(ctx, ca, dst)
	if err != nil {
		os.Remove(dst)
		return fail(stderr, fmt.Errorf("backup: %w", err))
	}
	fmt.Fprintf(stdout, "backup written to %s\naudit head in it: row %d\n%s\n", dst, head.Seq, head)
	return 0
}

// signBackupHead signs the head of the audit chain in the backup at path and
// keeps it there.
func signBackupHead(ctx context.Context, ca *pki.CA, path string) (protocol.AuditHead, error) {
	b, err := store.Open(path)
	if err != nil {
		return protocol.AuditHead{}, err
	}
	defer b.Close()
	seq, hash, err := b.AuditHead(ctx)
	if err != nil {
		return protocol.AuditHead{}, err
	}
	if hash == nil {
		hash = make([]byte, 32)
	}
	head, err := ca.SignAuditHead(seq, hash, time.Now())
	if err != nil {
		return head, err
	}
	return head, b.AddAuditHeads(ctx, head)
}

const auditUsage = `usage: carrel-hub audit verify [--data DIR] [--audit-key FILE] [--heads FILE]... [--backup FILE]...

Checks the audit log three ways and says what each proves:
  hashes  every row is chained to the one before: no row changed, removed or
          inserted, unless every later hash was recomputed;
  MACs    every row since the hub had its audit key (<data>/audit.key) carries
          a MAC under that key: a row rewritten by someone with hub.db but not
          the key shows, even with its hashes recomputed;
  heads   the chain still holds each signed head given: heads the hub wrote to
          its log (journalctl -u carrel-hub > heads.txt; --heads heads.txt),
          the head each backup carries (--backup FILE), a head copied from the
          console. A log cut short or rewound to an older copy shows.
Exit 0 when all hold, 1 naming the first row that does not.
`

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, auditUsage)
			return 0
		}
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	fs, data := newFlags("audit verify", "[--audit-key FILE] [--heads FILE]... [--backup FILE]...", stderr)
	keyFile := fs.String("audit-key", "", "the audit key (default <data>/audit.key)")
	var headFiles, backups []string
	fs.Func("heads", "a file holding signed heads (ah1.…), e.g. the hub's journal; may repeat", func(v string) error {
		headFiles = append(headFiles, v)
		return nil
	})
	fs.Func("backup", "a backup made by 'carrel-hub backup', whose head the chain must still hold; may repeat", func(v string) error {
		backups = append(backups, v)
		return nil
	})
	if code := parse(fs, args[1:], exactly(0)); code >= 0 {
		return code
	}
	ca, err := pki.Open(*data)
	if errors.Is(err, pki.ErrNoCA) {
		return fail(stderr, fmt.Errorf("no hub data in %s", *data))
	}
	if err != nil {
		return fail(stderr, err)
	}
	st, err := store.Open(filepath.Join(*data, hub.DBFile))
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	if *keyFile == "" {
		*keyFile = filepath.Join(*data, store.AuditKeyFile)
	}
	key, kerr := store.LoadAuditKey(*keyFile)
	if kerr == nil {
		st.SetAuditKey(key)
	}
	n, err := st.VerifyAudit(ctx)
	if err != nil {
		return fail(stderr, fmt.Errorf("%w (%d rows before it verified)", err, n))
	}
	seq, hash, err := st.AuditHead(ctx)
	if err != nil {
		return fail(stderr, err)
	}
	if hash == nil {
		hash = make([]byte, 32) // an empty log
	}
	fmt.Fprintf(stdout, "audit log intact: %d rows verified\n", n)
	fmt.Fprintf(stdout, "  hashes: rows 1 to %d chained\n", seq)
	switch {
	case kerr != nil:
		fmt.Fprintf(stdout, "  MACs:   not checked: %v\n", kerr)
	case key.From > 1:
		fmt.Fprintf(stdout, "  MACs:   rows %d to %d keyed (%s); rows 1 to %d are from before the hub had the key: chained only\n", key.From, seq, *keyFile, key.From-1)
	default:
		fmt.Fprintf(stdout, "  MACs:   rows 1 to %d keyed (%s)\n", seq, *keyFile)
	}
	type given struct {
		head protocol.AuditHead
		from string
	}
	var heads []given
	for _, f := range headFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return fail(stderr, err)
		}
		found := protocol.FindAuditHeads(string(b))
		if len(found) == 0 {
			fmt.Fprintf(stderr, "carrel-hub: %s holds no audit head (ah1.…)\n", f)
		}
		for _, h := range found {
			heads = append(heads, given{h, f})
		}
	}
	for _, f := range backups {
		if _, err := os.Stat(f); err != nil {
			return fail(stderr, err)
		}
		b, err := store.Open(f)
		if err != nil {
			return fail(stderr, err)
		}
		found, err := b.AuditHeads(ctx)
		b.Close()
		if err != nil {
			return fail(stderr, err)
		}
		if len(found) == 0 {
			fmt.Fprintf(stderr, "carrel-hub: backup %s carries no audit head (made before 2026-12?)\n", f)
		}
		for _, h := range found {
			heads = append(heads, given{h, "backup " + f})
		}
	}
	if len(heads) == 0 {
		fmt.Fprintln(stdout, "  heads:  none given: rows cut off the end or a rewound copy would not show (see --help)")
	}
	for _, g := range heads {
		where := fmt.Sprintf("head of row %d, %s, from %s", g.head.Seq, g.head.Time.UTC().Format(time.RFC3339), g.from)
		if err := pki.VerifyAuditHead(ca.Cert(), g.head); err != nil {
			fmt.Fprintf(stderr, "carrel-hub: %s: %v: ignored\n", where, err)
			continue
		}
		if err := st.CheckAuditHeads(ctx, []protocol.AuditHead{g.head}); err != nil {
			return fail(stderr, fmt.Errorf("%w (%s)", err, where))
		}
		fmt.Fprintf(stdout, "  heads:  %s: holds\n", where)
	}
	now, err := ca.SignAuditHead(seq, hash, time.Now())
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "head now (keep a copy elsewhere; --heads checks against it later):\n%s\n", now)
	return 0
}
