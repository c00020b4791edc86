package oslog

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// JournalSocket is where systemd-journald takes native-protocol datagrams.
const JournalSocket = "/run/systemd/journal/socket"

// UnderJournal reports whether this process's stderr goes to the journal
// (systemd sets JOURNAL_STREAM for a unit whose output it takes) and the
// journal's socket is there: then the journal handler replaces the text on
// stderr, which would be the same records without their priority.
func UnderJournal() bool {
	if os.Getenv("JOURNAL_STREAM") == "" {
		return false
	}
	_, err := os.Stat(JournalSocket)
	return err == nil
}

// Journal is a slog handler that writes each record to systemd-journald as
// one native-protocol datagram: MESSAGE, PRIORITY (syslog levels: 3 error,
// 4 warning, 6 info, 7 debug), SYSLOG_IDENTIFIER, CARREL_EVENT_ID, and each
// attribute as a field of its own (upper-cased, other characters as _).
type Journal struct {
	conn   *net.UnixConn
	ident  string
	level  slog.Leveler
	attrs  []slog.Attr
	prefix string
	mu     *sync.Mutex
}

// NewJournal connects to the journal's socket (JournalSocket where socket is
// "").
func NewJournal(socket, ident string, level slog.Leveler) (*Journal, error) {
	if socket == "" {
		socket = JournalSocket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if level == nil {
		level = slog.LevelInfo
	}
	return &Journal{conn: c, ident: ident, level: level, mu: &sync.Mutex{}}, nil
}

// Close closes the socket.
func (j *Journal) Close() error { return j.conn.Close() }

func (j *Journal) Enabled(_ context.Context, l slog.Level) bool { return l >= j.level.Level() }

func (j *Journal) WithAttrs(as []slog.Attr) slog.Handler {
	n := *j
	for _, a := range as {
		a.Key = j.prefix + a.Key
		n.attrs = append(append([]slog.Attr(nil), n.attrs...), a)
	}
	return &n
}

func (j *Journal) WithGroup(name string) slog.Handler {
	n := *j
	n.prefix = j.prefix + name + "_"
	return &n
}

func priority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	}
	return 7
}

// fieldName makes a journal field name of an attribute key: A-Z, 0-9 and _,
// not starting with _ or a digit, at most 64 bytes.
func fieldName(key string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(key) {
		if r < 128 && (unicode.IsUpper(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := strings.TrimLeft(b.String(), "_0123456789")
	if s == "" {
		s = "ATTR"
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// maxField clips each value, so that a record stays within what one unix
// datagram carries by default.
const maxField = 16 << 10

func (j *Journal) Handle(_ context.Context, r slog.Record) error {
	var buf bytes.Buffer
	field := func(name, value string) {
		if len(value) > maxField {
			value = value[:maxField]
		}
		if strings.ContainsRune(value, '\n') {
			// The binary form: name, newline, little-endian length, value.
			buf.WriteString(name)
			buf.WriteByte('\n')
			binary.Write(&buf, binary.LittleEndian, uint64(len(value)))
			buf.WriteString(value)
			buf.WriteByte('\n')
			return
		}
		buf.WriteString(name)
		buf.WriteByte('=')
		buf.WriteString(value)
		buf.WriteByte('\n')
	}
	field("MESSAGE", r.Message)
	field("PRIORITY", strconv.Itoa(priority(r.Level)))
	if j.ident != "" {
		field("SYSLOG_IDENTIFIER", j.ident)
	}
	field("CARREL_EVENT_ID", strconv.FormatUint(uint64(eventID(r, j.attrs)), 10))
	if !r.Time.IsZero() {
		field("CARREL_TIME", r.Time.UTC().Format(time.RFC3339Nano))
	}
	add := func(a slog.Attr, prefix string) {
		if a.Key == KeyEventID || a.Equal(slog.Attr{}) {
			return
		}
		field(fieldName(prefix+a.Key), a.Value.Resolve().String())
	}
	for _, a := range j.attrs {
		add(a, "")
	}
	r.Attrs(func(a slog.Attr) bool { add(a, j.prefix); return true })
	j.mu.Lock()
	defer j.mu.Unlock()
	_, err := j.conn.Write(buf.Bytes())
	return err
}
