//go:build !windows

package oslog

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parseNative reads one journal native-protocol datagram into fields.
func parseNative(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for len(b) > 0 {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			t.Fatalf("no newline in %q", b)
		}
		line := b[:nl]
		if eq := bytes.IndexByte(line, '='); eq >= 0 {
			out[string(line[:eq])] = string(line[eq+1:])
			b = b[nl+1:]
			continue
		}
		name := string(line)
		b = b[nl+1:]
		if len(b) < 8 {
			t.Fatalf("binary field %s: short", name)
		}
		n := binary.LittleEndian.Uint64(b[:8])
		b = b[8:]
		if uint64(len(b)) < n+1 || b[n] != '\n' {
			t.Fatalf("binary field %s: bad length %d", name, n)
		}
		out[name] = string(b[:n])
		b = b[n+1:]
	}
	return out
}

// The journal gets one datagram a record, with the priority, identifier and
// event ID, attributes as fields, and multi-line text in the binary form.
func TestJournalNativeProtocol(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "journal.sock")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	j, err := NewJournal(sock, "carrel-agent", slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	log := slog.New(j).With("component", "link")
	log.Debug("not sent")
	log.Info("Connected to the hub", "hub", "wss://hub:8443")
	log.Warn("Download blocked", KeyEventID, 201, "name", "setup.exe", "file-size", 1234)
	log.WithGroup("wipe").Error("Wipe left files\nsecond line", "user", "patron1")

	read := func() map[string]string {
		l.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 1<<20)
		n, err := l.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return parseNative(t, buf[:n])
	}
	info := read()
	if info["MESSAGE"] != "Connected to the hub" || info["PRIORITY"] != "6" || info["SYSLOG_IDENTIFIER"] != "carrel-agent" ||
		info["CARREL_EVENT_ID"] != "1" || info["HUB"] != "wss://hub:8443" || info["COMPONENT"] != "link" {
		t.Fatalf("info: %v", info)
	}
	warn := read()
	if warn["PRIORITY"] != "4" || warn["CARREL_EVENT_ID"] != "201" || warn["NAME"] != "setup.exe" || warn["FILE_SIZE"] != "1234" {
		t.Fatalf("warn: %v", warn)
	}
	if _, ok := warn["EID"]; ok {
		t.Fatalf("the event ID was also sent as a field: %v", warn)
	}
	e := read()
	if e["PRIORITY"] != "3" || e["CARREL_EVENT_ID"] != "3" || e["MESSAGE"] != "Wipe left files\nsecond line" || e["WIPE_USER"] != "patron1" {
		t.Fatalf("error: %v", e)
	}
}

func TestFieldNames(t *testing.T) {
	for in, want := range map[string]string{"hub": "HUB", "file-size": "FILE_SIZE", "_secret": "SECRET", "9lives": "LIVES",
		"ü": "ATTR", strings.Repeat("a", 80): strings.Repeat("A", 64)} {
		if got := fieldName(in); got != want {
			t.Errorf("fieldName(%q) = %q, want %q", in, got, want)
		}
	}
}

// Tee sends a record to every handler, the event ID counted from the level
// when none is set.
func TestTeeAndEventIDs(t *testing.T) {
	var a, b bytes.Buffer
	log := slog.New(Tee(slog.NewTextHandler(&a, nil), slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelWarn})))
	log.Info("one")
	log.Warn("two")
	if !strings.Contains(a.String(), "one") || !strings.Contains(a.String(), "two") || strings.Contains(b.String(), "one") || !strings.Contains(b.String(), "two") {
		t.Fatalf("a=%q b=%q", a.String(), b.String())
	}
	for _, c := range []struct {
		level slog.Level
		attrs []any
		want  uint32
	}{
		{slog.LevelInfo, nil, IDInfo}, {slog.LevelWarn, nil, IDWarn}, {slog.LevelError, nil, IDError},
		{slog.LevelInfo, []any{KeyEventID, 512}, 512}, {slog.LevelInfo, []any{KeyEventID, 5000}, IDInfo},
		{slog.LevelError, []any{KeyEventID, -1}, IDError},
	} {
		r := slog.NewRecord(time.Now(), c.level, "m", 0)
		r.Add(c.attrs...)
		if got := eventID(r, nil); got != c.want {
			t.Errorf("%v %v: id %d, want %d", c.level, c.attrs, got, c.want)
		}
	}
}
