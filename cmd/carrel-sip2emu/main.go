// Command carrel-sip2emu runs the SIP2 server emulator of the tests
// (internal/testrig/sip2emu) as a program, for trying a hub's card sign-in
// by hand and for end-to-end tests with the real binaries. It is a test
// tool, not an ILS: the patron table is a file read at start, kept in
// memory, and forgotten at exit.
//
// main only parses flags and calls sip2emu. Exit codes: 0 success, 1
// failure, 2 usage.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/cli"
	"github.com/carrel-kiosk/carrel/internal/testrig/sip2emu"
)

func main() {
	p := &cli.Program{
		Name:   "carrel-sip2emu",
		Footer: "Every command takes --help. A test tool: never point it at patrons' real cards.",
	}
	p.Register(cli.Command{Name: "serve", Summary: "serve SIP2 on --listen from a --patrons table, with an ILS's --quirks", Run: runServe})
	p.Main()
}

const serveAbout = `
Serve SIP2 2.00 until SIGINT or SIGTERM. The first line on stdout is
"listening on HOST:PORT". The patron file has one patron a line:
card|pin|name|flags|fines|fee limit|expires (flags: charge-denied,
card-lost, excessive-fines; expires YYYYMMDD).`

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("carrel-sip2emu serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	quirks := fs.String("quirks", "generic", "ILS to play: generic, koha, evergreen, sierra or sirsidynix")
	patrons := fs.String("patrons", "", "patron table file (required)")
	user := fs.String("user", "", "SIP login the 93 must carry (empty: no login needed)")
	password := fs.String("password", "", "SIP password the 93 must carry")
	institution := fs.String("institution", "lib", "institution id (AO)")
	delay := fs.Duration("delay", 0, "wait this long before each patron reply")
	fault := fs.String("fault", "none", "answer every patron request with this fault: none, drop, garbage, bad-checksum, missing-field, unknown-field, no-reply, offline")
	certFile := fs.String("tls-cert", "", "serve TLS with this PEM certificate (with --tls-key)")
	keyFile := fs.String("tls-key", "", "PEM key of --tls-cert")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: carrel-sip2emu serve --patrons FILE [flags]\n%s\n\nflags:\n", serveAbout)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *patrons == "" || (*certFile == "") != (*keyFile == "") {
		fs.Usage()
		return 2
	}
	kind, err := sip2emu.ParseFault(*fault)
	if err != nil {
		fmt.Fprintln(stderr, "carrel-sip2emu:", err)
		return 2
	}
	f, err := os.Open(*patrons)
	if err != nil {
		return fail(stderr, err)
	}
	table, err := sip2emu.ParsePatrons(f)
	f.Close()
	if err != nil {
		return fail(stderr, err)
	}
	o := sip2emu.Options{Quirks: sip2emu.QuirksFor(strings.ToLower(*quirks)), Addr: *listen,
		User: *user, Password: *password, Institution: *institution, Patrons: table}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fail(stderr, err)
		}
		o.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	s, err := sip2emu.Start(o)
	if err != nil {
		return fail(stderr, err)
	}
	s.SetDelay(*delay)
	s.SetFault(sip2emu.Fault{Kind: kind})
	fmt.Fprintf(stdout, "listening on %s\n", s.Addr())
	<-ctx.Done()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		fmt.Fprintln(stderr, "carrel-sip2emu: connections still open after 5s; exiting anyway")
	}
	st := s.Stats()
	fmt.Fprintf(stdout, "connections %d, logins %d, patron requests %d, resends %d, bad requests %d\n",
		st.Connections, st.Logins, st.PatronRequests, st.Resends, st.BadRequests)
	return 0
}

func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "carrel-sip2emu:", err)
	return 1
}
