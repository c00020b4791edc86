package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, "usage: carrel-hub token create --uses N --ttl D [--branch NAME] [--hub-url wss://HOST:PORT] [--data DIR] [--json]")
			return 0
		}
		fmt.Fprintln(stderr, "usage: carrel-hub token create --uses N --ttl D [--branch NAME] [--hub-url wss://HOST:PORT] [--data DIR] [--json]")
		return 2
	}
	fs, data := newFlags("token create", "--uses N --ttl D [--hub-url wss://HOST:PORT]", stderr)
	uses := fs.Int("uses", 1, "how many PCs may enroll with this token")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid (e.g. 2h, 72h)")
	hubURL := fs.String("hub-url", "", "URL agents dial (default: wss://<first server name>:<listen port>)")
	branch := fs.String("branch", "", "the branch the PCs enrolled with this token land in (see 'carrel-hub branch')")
	asJSON := fs.Bool("json", false, "print JSON")
	if code := parse(fs, args[1:], exactly(0)); code >= 0 {
		return code
	}
	if *uses < 1 || *ttl <= 0 {
		fmt.Fprintln(stderr, "carrel-hub token create: --uses must be at least 1 and --ttl positive")
		return 2
	}
	if err := protocol.ValidBranch(*branch); err != nil {
		fmt.Fprintf(stderr, "carrel-hub token create: --branch: %v\n", err)
		return 2
	}
	ca, st, err := openExisting(*data)
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	url := *hubURL
	if url == "" {
		var public bool
		url, public = defaultHubURL(ca, *data)
		if !public {
			fmt.Fprintf(stderr, "Warning: this hub has no public name, so the line below names %s, which the PCs may not reach.\n"+
				"Give the name the library's PCs reach the hub by: restart it with 'carrel-hub serve --name HOST', or pass --hub-url wss://HOST:PORT here.\n", url)
		}
	}
	tok, hash, err := pki.NewToken()
	if err != nil {
		return fail(stderr, err)
	}
	expires := time.Now().Add(*ttl).UTC().Truncate(time.Second)
	if err := st.CreateBranchToken(ctx, hash, *uses, expires, *branch, localActor()); err != nil {
		return fail(stderr, err)
	}
	line := fmt.Sprintf("carrel-agent enroll --hub %s --token %s --fingerprint %s", url, tok, ca.Fingerprint())
	if *asJSON {
		json.NewEncoder(stdout).Encode(map[string]any{"token": tok, "fingerprint": ca.Fingerprint(), "hub_url": url,
			"expires": expires, "uses": *uses, "command": line})
		return 0
	}
	fmt.Fprintf(stdout, "Token:       %s\nFingerprint: %s\nExpires:     %s (%d use(s))\n\nOn each PC, as administrator/root:\n  %s\n",
		tok, ca.Fingerprint(), expires.Format(time.RFC3339), *uses, line)
	return 0
}

// defaultHubURL is the running (or last) serve's public agent URL, else
// wss://<server certificate's first name>:<port serve listens on>; public says
// whether it was the first.
func defaultHubURL(ca *pki.CA, dir string) (url string, public bool) {
	if p, err := hub.LoadPublished(dir); err == nil && p.AgentURL != "" {
		return p.AgentURL, true
	}
	host, port := "localhost", "8443"
	if c, err := ca.StoredServerCert(); err == nil && c.Subject.CommonName != "" {
		host = c.Subject.CommonName
	}
	if p, err := hub.LoadPublished(dir); err == nil {
		if _, pt, err := net.SplitHostPort(p.Listen); err == nil {
			port = pt
		}
	}
	return "wss://" + net.JoinHostPort(host, port), false
}
