package overlay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// MaxLine bounds one JSON line in either direction. A state line carries at
// most protocol.MaxMessageText bytes of text, which JSON escaping can grow six
// times.
const MaxLine = 8 << 10

// MaxGrace bounds a countdown: a deadline further away than this is refused.
const MaxGrace = 10 * time.Minute

// ErrLineTooLong is returned for a line longer than MaxLine.
var ErrLineTooLong = errors.New("overlay: line too long")

// Command is one line from the service to the helper: the whole state to show,
// never a change. The zero Command means "nothing to show": the helper exits.
type Command struct {
	// Lock covers every screen and takes the keyboard and pointer.
	Lock bool `json:"lock,omitempty"`
	// EndsAt is the countdown's end in Unix milliseconds; 0: no countdown.
	EndsAt int64 `json:"ends_at,omitempty"`
	// MsgID identifies Msg; the helper reports it back when the patron
	// dismisses the message. 0 with an empty Msg: no message.
	MsgID uint64 `json:"msg_id,omitempty"`
	// Msg is a staff message, plain text with newlines.
	Msg string `json:"msg,omitempty"`
	// NoticeID identifies Notice; the helper reports it back when the patron
	// closes the notice. 0 with an empty Notice: no notice.
	NoticeID uint64 `json:"notice_id,omitempty"`
	// Notice is a note for the patron from the agent itself (a download not
	// kept, a program refused), plain text: shown in a corner, over the
	// patron's work, taking neither the keyboard nor the focus.
	Notice string `json:"notice,omitempty"`
	// Seq numbers the commands of one session; the helper echoes the last one
	// it has on screen. It is not part of what is shown.
	Seq uint64 `json:"seq,omitempty"`
}

// Empty reports whether c shows nothing.
func (c Command) Empty() bool { return !c.Lock && c.EndsAt == 0 && c.Msg == "" && c.Notice == "" }

// same reports whether c and o show the same thing.
func (c Command) same(o Command) bool {
	c.Seq, o.Seq = 0, 0
	return c == o
}

// Report kinds, the helper's answers.
const (
	ReportReady        = "ready"         // everything the last command asked for is on screen
	ReportAlive        = "alive"         // heartbeat, twice a second, with what is shown
	ReportDismissed    = "dismissed"     // the patron dismissed message MsgID
	ReportNoticeClosed = "notice_closed" // the patron closed notice NoticeID
)

// Report is one line from the helper to the service.
type Report struct {
	T string `json:"t"`
	// Seq is the last command on screen (ready, alive).
	Seq uint64 `json:"seq,omitempty"`
	// MsgID: the message shown (alive) or dismissed.
	MsgID uint64 `json:"msg_id,omitempty"`
	// NoticeID: the notice shown (alive, ready) or closed.
	NoticeID uint64 `json:"notice_id,omitempty"`
	// Lock and Grabbed: the lock is shown, and the keyboard and pointer are ours.
	Lock    bool `json:"lock,omitempty"`
	Grabbed bool `json:"grabbed,omitempty"`
	// Countdown is the number of seconds the countdown shows; -1 none.
	Countdown int `json:"countdown"`
	// Windows is the number of overlay windows mapped.
	Windows int `json:"windows,omitempty"`
}

// LineReader reads newline-terminated lines of at most MaxLine bytes. A longer
// line is skipped whole and reported once as ErrLineTooLong; the next call
// goes on with the line after it.
type LineReader struct {
	r *bufio.Reader
}

// NewLineReader returns a LineReader over r.
func NewLineReader(r io.Reader) *LineReader { return &LineReader{r: bufio.NewReaderSize(r, 4096)} }

// Next returns the next line without its newline. At the end of the input it
// returns io.EOF; a last line without a newline is returned first.
func (l *LineReader) Next() ([]byte, error) {
	var line []byte
	tooLong := false
	for {
		chunk, err := l.r.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > MaxLine+1 { // +1: the newline
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		switch {
		case err == nil:
			if tooLong {
				return nil, ErrLineTooLong
			}
			return bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'}), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if tooLong {
				return nil, ErrLineTooLong
			}
			if len(line) > 0 {
				return line, nil
			}
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}

// DecodeCommand parses and checks one command line. Unknown fields, a message
// that is too long or holds control characters, and a countdown more than
// MaxGrace away from now are refused.
func DecodeCommand(line []byte, now time.Time) (Command, error) {
	var c Command
	if err := decodeStrict(line, &c); err != nil {
		return Command{}, fmt.Errorf("decode command: %w", err)
	}
	if c.EndsAt != 0 {
		d := time.UnixMilli(c.EndsAt).Sub(now)
		if c.EndsAt < 0 || d > MaxGrace || d < -MaxGrace {
			return Command{}, fmt.Errorf("decode command: countdown end %d out of range", c.EndsAt)
		}
	}
	if err := CheckText(c.Msg); err != nil {
		return Command{}, fmt.Errorf("decode command: %w", err)
	}
	if (c.Msg == "") != (c.MsgID == 0) {
		return Command{}, errors.New("decode command: a message needs an id and an id needs a message")
	}
	if err := CheckText(c.Notice); err != nil {
		return Command{}, fmt.Errorf("decode command: notice: %w", err)
	}
	if (c.Notice == "") != (c.NoticeID == 0) {
		return Command{}, errors.New("decode command: a notice needs an id and an id needs a notice")
	}
	return c, nil
}

// DecodeReport parses and checks one report line.
func DecodeReport(line []byte) (Report, error) {
	var r Report
	if err := decodeStrict(line, &r); err != nil {
		return Report{}, fmt.Errorf("decode report: %w", err)
	}
	switch r.T {
	case ReportReady, ReportAlive, ReportDismissed, ReportNoticeClosed:
	default:
		return Report{}, fmt.Errorf("decode report: unknown kind %q", protocol.Clip(r.T, 20))
	}
	if r.Countdown < -1 || r.Countdown > int(MaxGrace/time.Second) || r.Windows < 0 || r.Windows > 64 {
		return Report{}, errors.New("decode report: value out of range")
	}
	return r, nil
}

func decodeStrict(line []byte, v any) error {
	if len(line) > MaxLine {
		return ErrLineTooLong
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// CheckText accepts a staff message: at most protocol.MaxMessageText bytes of
// valid UTF-8 without control characters other than newlines and without
// bidirectional controls (which could make the text read other than it is).
func CheckText(s string) error {
	if len(s) > protocol.MaxMessageText {
		return fmt.Errorf("message longer than %d bytes", protocol.MaxMessageText)
	}
	if !utf8.ValidString(s) {
		return errors.New("message is not valid UTF-8")
	}
	for _, r := range s {
		if r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)) {
			return fmt.Errorf("message holds control character %U", r)
		}
	}
	return nil
}

// encodeLine marshals v as one line.
func encodeLine(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("overlay: marshal: " + err.Error()) // only fixed struct types are marshalled
	}
	return append(b, '\n')
}
