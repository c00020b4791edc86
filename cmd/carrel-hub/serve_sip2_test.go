package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestSIP2Flags(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\r\n"), 0o600)
	parse := func(args ...string) (sip2Flags, error) {
		fs, f := newServeFlags("serve", io.Discard)
		if err := fs.Parse(args); err != nil && err != flag.ErrHelp {
			t.Fatal(err)
		}
		return f.sip2, nil
	}
	f, _ := parse()
	if c, err := f.config(); c != nil || err != nil {
		t.Errorf("no --sip2: %+v %v", c, err)
	}
	f, _ = parse("--sip2", "ils:6001", "--sip2-profile", "sirsi", "--sip2-user", "carrel", "--sip2-password-file", pw, "--sip2-location", "MAIN")
	c, err := f.config()
	if err != nil || c.Profile.Name != "sirsidynix" || c.Password != "s3cret" || c.User != "carrel" || c.Location != "MAIN" || c.PoolSize != 4 || c.TLS != nil {
		t.Errorf("config %+v, %v", c, err)
	}
	for _, bad := range [][]string{
		{"--sip2", "ils:6001", "--sip2-profile", "folio"},
		{"--sip2", "ils:6001", "--sip2-password-file", filepath.Join(t.TempDir(), "none")},
		{"--sip2", "ils:6001", "--sip2-ca", pw},
		{"--sip2", "ils:6001", "--sip2-tls", "--sip2-ca", pw}, // not PEM
		{"--sip2", "ils:6001", "--sip2-connections", "0"},
	} {
		f, _ := parse(bad...)
		if _, err := f.config(); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
