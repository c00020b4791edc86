package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// terminalJSON is one line of 'terminals --json', for scripts.
type terminalJSON struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	OS           string          `json:"os"`
	OSVersion    string          `json:"os_version"`
	AgentVersion string          `json:"agent_version"`
	State        string          `json:"state"` // online, offline, revoked
	Online       bool            `json:"online"`
	Locked       bool            `json:"locked"`
	LastSeen     *time.Time      `json:"last_seen,omitempty"`
	EnrolledAt   time.Time       `json:"enrolled_at"`
	CertNotAfter time.Time       `json:"cert_not_after"`
	AckedSeq     uint64          `json:"acked_seq"`
	LastStatus   json.RawMessage `json:"last_status,omitempty"`
}

func runTerminals(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("terminals", "[--json]", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if code := parse(fs, args, exactly(0)); code >= 0 {
		return code
	}
	_, st, err := openExisting(*data)
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	ts, err := st.Terminals(ctx)
	if err != nil {
		return fail(stderr, err)
	}
	// The online flags are only true while serve runs: if it does not answer
	// (stopped, or crashed), nobody is online.
	running := false
	if _, err := hub.Dial(ctx, *data); err == nil {
		running = true
	}
	out := make([]terminalJSON, 0, len(ts))
	for _, t := range ts {
		j := terminalJSON{ID: t.ID, Name: t.Name, OS: t.OS, OSVersion: t.OSVersion, AgentVersion: t.AgentVersion,
			State: state(t, running), Online: state(t, running) == "online", Locked: t.Locked, EnrolledAt: t.EnrolledAt.UTC(), CertNotAfter: t.CertNotAfter.UTC(),
			AckedSeq: t.AckedSeq, LastStatus: t.LastStatus}
		if !t.LastSeen.IsZero() {
			ls := t.LastSeen.UTC()
			j.LastSeen = &ls
		}
		out = append(out, j)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tOS\tVERSION\tSTATE\tLAST SEEN\tLAST STATUS")
	for _, t := range out {
		seen := "never"
		if t.LastSeen != nil {
			seen = t.LastSeen.Local().Format("2006-01-02 15:04:05")
		}
		// Names and versions come from the PCs: escaped, so that no control or
		// bidi character reaches the reader's terminal (the JSON keeps them exact).
		p := protocol.Printable
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p(t.Name), p(t.ID), p(t.OS), p(dash(t.AgentVersion)), t.State, seen, summary(t.LastStatus))
	}
	tw.Flush()
	return 0
}

func state(t store.Terminal, running bool) string {
	switch {
	case t.Revoked():
		return "revoked"
	case t.Online && running:
		return "online"
	}
	return "offline"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// summary is "session, cpu, mem" from a stored protocol.Status.
func summary(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "-"
	}
	var s protocol.Status
	if err := json.Unmarshal(raw, &s); err != nil {
		return "?"
	}
	mem := "-"
	if s.MemTotal > 0 {
		mem = fmt.Sprintf("%.0f%%", 100*float64(s.MemUsed)/float64(s.MemTotal))
	}
	lock := ""
	if s.Locked {
		lock = ", locked"
	}
	return fmt.Sprintf("%s%s, cpu %.0f%%, mem %s", protocol.Printable(string(s.Session)), lock, s.CPUPercent, mem)
}
