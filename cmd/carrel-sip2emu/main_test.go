package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/sip2"
)

func TestServe(t *testing.T) {
	table := filepath.Join(t.TempDir(), "patrons")
	os.WriteFile(table, []byte("# card|pin|name|flags\n1001|1001|Jane Doe\n2002|2002|Blocked|charge-denied\n"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- runServe(ctx, []string{"--patrons", table, "--quirks", "sierra", "--user", "hub", "--password", "pw"}, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "listening on ") {
		t.Fatalf("first line %q", sc.Text())
	}
	addr := strings.TrimPrefix(sc.Text(), "listening on ")
	p, _ := sip2.ProfileByName(sip2.ProfileSierra)
	cli, err := sip2.New(sip2.Config{Addr: addr, Profile: p, User: "hub", Password: "pw", Institution: "lib"})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for card, want := range map[string]sip2.Outcome{"1001": sip2.OutcomeOK, "2002": sip2.OutcomeBlocked, "3003": sip2.OutcomeUnknownCard} {
		pt, err := cli.Authenticate(context.Background(), card, card)
		if err != nil || pt.Outcome != want {
			t.Fatalf("card %s: %+v, %v; want %v", card, pt, err, want)
		}
	}
	cancel()
	go io.Copy(io.Discard, pr)
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit code %d", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop on cancel")
	}
	if c := runServe(context.Background(), []string{"--quirks", "koha"}, io.Discard, io.Discard); c != 2 {
		t.Fatalf("without --patrons: exit %d, want 2", c)
	}
}
