package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

const apikeyUsage = `usage: carrel-hub apikey create --name NAME [--branch BRANCH] [--json]
       carrel-hub apikey list [--json]
       carrel-hub apikey revoke ID|NAME

A key reads the hub's API (/api/v1/...) read-only: every branch, or with --branch only that one.
The key is printed once; the hub keeps only its hash. A running hub closes a revoked key's
feeds within a few seconds.`

func runAPIKey(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, apikeyUsage)
		return 2
	}
	switch args[0] {
	case "create":
		fs, data := newFlags("apikey create", "--name NAME [--branch BRANCH]", stderr)
		name := fs.String("name", "", "what the key is for, e.g. \"entrance screen\" (required)")
		branch := fs.String("branch", "", "the one branch the key may read (default: every branch)")
		asJSON := fs.Bool("json", false, "print JSON")
		if code := parse(fs, args[1:], exactly(0)); code >= 0 {
			return code
		}
		if strings.TrimSpace(*name) == "" {
			fmt.Fprintln(stderr, "carrel-hub apikey create: --name is required")
			return 2
		}
		if err := protocol.ValidBranch(*branch); err != nil {
			fmt.Fprintf(stderr, "carrel-hub apikey create: --branch: %v\n", err)
			return 2
		}
		_, st, err := openExisting(*data)
		if err != nil {
			return fail(stderr, err)
		}
		defer st.Close()
		k, err := st.CreateAPIKey(ctx, *name, *branch, localActor())
		if err != nil {
			return fail(stderr, err)
		}
		if *asJSON {
			return printJSON(stdout, k)
		}
		scope := "every branch"
		if k.Branch != "" {
			scope = "branch " + k.Branch
		}
		fmt.Fprintf(stdout, "API key %s (%s), reads %s:\n\n  %s\n\nIt is shown this once: the hub keeps only its hash.\n"+
			"Use it as 'Authorization: Bearer KEY', or for the free PCs screen: https://HUB:PORT/free?key=KEY\n",
			k.ID, protocol.Printable(k.Name), scope, k.Key)
		return 0
	case "list":
		fs, data := newFlags("apikey list", "", stderr)
		asJSON := fs.Bool("json", false, "print JSON")
		if code := parse(fs, args[1:], exactly(0)); code >= 0 {
			return code
		}
		_, st, err := openExisting(*data)
		if err != nil {
			return fail(stderr, err)
		}
		defer st.Close()
		keys, err := st.APIKeys(ctx)
		if err != nil {
			return fail(stderr, err)
		}
		if *asJSON {
			return printJSON(stdout, keys)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tBRANCH\tCREATED\tBY\tLAST USED\tREVOKED")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, protocol.Printable(k.Name), orAll(k.Branch),
				day(k.CreatedAt), protocol.Printable(k.CreatedBy), day(k.LastUsed), day(k.RevokedAt))
		}
		tw.Flush()
		return 0
	case "revoke":
		fs, data := newFlags("apikey revoke", "ID|NAME", stderr)
		if code := parse(fs, args[1:], exactly(1)); code >= 0 {
			return code
		}
		_, st, err := openExisting(*data)
		if err != nil {
			return fail(stderr, err)
		}
		defer st.Close()
		k, err := st.RevokeAPIKey(ctx, fs.Arg(0), localActor())
		if err != nil {
			return fail(stderr, err)
		}
		fmt.Fprintf(stdout, "revoked API key %s (%s)\n", k.ID, protocol.Printable(k.Name))
		return 0
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, apikeyUsage)
		return 0
	}
	fmt.Fprintln(stderr, apikeyUsage)
	return 2
}

const webhookUsage = `usage: carrel-hub webhook add --url URL [--branch BRANCH] [--secret-stdin] [--json]
       carrel-hub webhook list [--json]
       carrel-hub webhook remove ID

The hub POSTs every API feed event (state changes, session start and end) to URL, signed:
header Carrel-Signature: t=UNIX,v1=HMAC-SHA256(secret, "UNIX." + body) in hex (README, "Webhooks").
Without --secret-stdin a secret is made and printed once. A running hub picks up changes within
10 seconds. list shows how many events were delivered and dead-lettered (given up after retries).`

func runWebhook(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, webhookUsage)
		return 2
	}
	switch args[0] {
	case "add":
		fs, data := newFlags("webhook add", "--url URL [--branch BRANCH] [--secret-stdin]", stderr)
		url := fs.String("url", "", "where to POST the events, https:// (required)")
		branch := fs.String("branch", "", "only this branch's events (default: every branch)")
		fromStdin := fs.Bool("secret-stdin", false, "read the secret (16 bytes or more) from the first line of stdin")
		asJSON := fs.Bool("json", false, "print JSON")
		if code := parse(fs, args[1:], exactly(0)); code >= 0 {
			return code
		}
		if *url == "" {
			fmt.Fprintln(stderr, "carrel-hub webhook add: --url is required")
			return 2
		}
		var secret string
		if *fromStdin {
			b, err := io.ReadAll(io.LimitReader(os.Stdin, 4096))
			if err != nil {
				return fail(stderr, err)
			}
			secret, _, _ = strings.Cut(string(b), "\n")
			secret = strings.TrimRight(secret, "\r")
		} else {
			b := make([]byte, 32)
			rand.Read(b)
			secret = hex.EncodeToString(b)
		}
		_, st, err := openExisting(*data)
		if err != nil {
			return fail(stderr, err)
		}
		defer st.Close()
		w, err := st.CreateWebhook(ctx, *url, []byte(secret), *branch, localActor())
		if err != nil {
			return fail(stderr, err)
		}
		if *asJSON {
			out := struct {
				protocol.WebhookView
				Secret string `json:"secret,omitempty"`
			}{WebhookView: w}
			if !*fromStdin {
				out.Secret = secret
			}
			return printJSON(stdout, out)
		}
		fmt.Fprintf(stdout, "webhook %s posts to %s\n", w.ID, w.URL)
		if !*fromStdin {
			fmt.Fprintf(stdout, "\nIts signing secret, shown this once:\n\n  %s\n", secret)
		}
		return 0
	case "list":
		fs, data := newFlags("webhook list", "", stderr)
		asJSON := fs.Bool("json", false, "print JSON")
		if code := parse(fs, args[1:], exactly(0)); code >= 0 {
			return code
		}
		_, st, err := openExisting(*data)
		if err != nil {
			return fail(stderr, err)
		}
		defer st.Close()
		hooks, err := st.Webhooks(ctx)
		if err != nil {
			return fail(stderr, err)
		}
		views := make([]protocol.WebhookView, len(hooks))
		for i, h := range hooks {
			views[i] = h.WebhookView
		}
		if *asJSON {
			return printJSON(stdout, views)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tURL\tBRANCH\tDELIVERED\tDEAD\tLAST ERROR")
		for _, h := range views {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", h.ID, protocol.Printable(h.URL), orAll(h.Branch), h.Delivered, h.Dead, protocol.Printable(h.LastError))
		}
		tw.Flush()
		return 0
	case "remove":
		fs, data := newFlags("webhook remove", "ID", stderr)
		if code := parse(fs, args[1:], exactly(1)); code >= 0 {
			return code
		}
		_, st, err := openExisting(*data)
		if err != nil {
			return fail(stderr, err)
		}
		defer st.Close()
		if err := st.DeleteWebhook(ctx, fs.Arg(0), localActor()); err != nil {
			return fail(stderr, err)
		}
		fmt.Fprintf(stdout, "removed webhook %s\n", fs.Arg(0))
		return 0
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, webhookUsage)
		return 0
	}
	fmt.Fprintln(stderr, webhookUsage)
	return 2
}

func orAll(branch string) string {
	if branch == "" {
		return "(all)"
	}
	return branch
}

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func printJSON(w io.Writer, v any) int {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(w, string(b))
	return 0
}
