package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func TestGuestRulesHours(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	h, err := hub.New(hub.Config{DataDir: data, Listen: "127.0.0.1:0", NoControlSocket: true}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h.Close()

	pdf := filepath.Join(t.TempDir(), "passes.pdf")
	code, out, errOut := run(t, "guest", "create", "--data", data, "--count", "3", "--minutes", "30", "--pdf", pdf)
	if code != 0 {
		t.Fatalf("guest create: %d %s", code, errOut)
	}
	if codes := regexp.MustCompile(`(?m)^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{5}$`).FindAllString(out, -1); len(codes) != 3 {
		t.Errorf("codes in %q", out)
	}
	if b, err := os.ReadFile(pdf); err != nil || !strings.HasPrefix(string(b), "%PDF-") {
		t.Errorf("sheet: %v", err)
	}
	for _, bad := range [][]string{{"guest", "create", "--count", "3"}, {"guest", "create", "--count", "3", "--day", "--minutes", "5"},
		{"guest", "create", "--count", "0", "--day"}, {"rules"}, {"hours", "set", "--week", "funday 09:00-10:00"}} {
		if code, _, _ := run(t, append(bad, "--data", data)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}

	if code, _, errOut := run(t, "rules", "set", "--data", data, "--branch", "Main", "--session", "45", "--daily", "90", "--warnings", "5,1", "--cutoff", "10"); code != 0 {
		t.Fatalf("rules set: %s", errOut)
	}
	if code, _, errOut := run(t, "hours", "set", "--data", data, "--branch", "Main", "--week", "mon-fri 09:00-20:00; sat 10:00-16:00",
		"--closed", "2026-12-25", "--special", "2026-12-24=09:00-13:00"); code != 0 {
		t.Fatalf("hours set: %s", errOut)
	}
	code, out, _ = run(t, "rules", "show", "--data", data, "--branch", "Main", "--json")
	var br protocol.BranchRules
	if code != 0 || json.Unmarshal([]byte(out), &br) != nil {
		t.Fatalf("rules show: %d %q", code, out)
	}
	r := br.Rules
	if !br.Own || r.SessionMinutes != 45 || r.DailyMinutes != 90 || len(r.Warnings) != 2 || r.CutoffMinutes != 10 ||
		len(r.Hours) != 7 || !r.Hours[0].Closed || r.Hours[6].Open != "10:00" || len(r.Exceptions) != 2 {
		t.Errorf("rules = %+v", br)
	}
	if code, out, _ := run(t, "hours", "show", "--data", data, "--branch", "Main"); code != 0 || !strings.Contains(out, "2026-12-25 closed") {
		t.Errorf("hours show: %q", out)
	}
}
