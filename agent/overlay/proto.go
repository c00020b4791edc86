package overlay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
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
	// Patron is the patron's screen where patrons sign in (the sign-in form
	// on the lock, the time left while signed in); zero elsewhere.
	Patron PatronScreen `json:"patron,omitzero"`
	// Seq numbers the commands of one session; the helper echoes the last one
	// it has on screen. It is not part of what is shown.
	Seq uint64 `json:"seq,omitempty"`
}

// PatronScreen is what a patron sees of their own session: on a free PC the
// sign-in form (with Lock), and while signed in a strip with the time left,
// an "End my session" button, and the time warnings to acknowledge.
type PatronScreen struct {
	// SignIn shows the sign-in form on the lock screen (Lock must be set).
	SignIn bool `json:"signin,omitempty"`
	// Busy: a sign-in is being checked; the form takes no input meanwhile.
	Busy bool `json:"busy,omitempty"`
	// Refusal is why the last sign-in was refused; the form shows
	// protocol.RefusalText's words for it, nothing else.
	Refusal protocol.Refusal `json:"refusal,omitempty"`
	// Form numbers the attempts: a new value empties the fields.
	Form uint64 `json:"form,omitempty"`
	// CleanAt is when the previous session was erased and verified clean
	// (Unix milliseconds), 0 when that is not known to be so.
	CleanAt int64 `json:"clean_at,omitempty"`
	// EndsAt is the signed-in session's end on this PC's clock (Unix
	// milliseconds; the service corrects it when the clock moves): the strip
	// shows the time left. 0: no session.
	EndsAt int64 `json:"ends_at,omitempty"`
	// WarnID and Warn: a time warning, Warn minutes before the end, shown
	// until the patron acknowledges it (reported back with WarnID).
	WarnID uint64 `json:"warn_id,omitempty"`
	Warn   int    `json:"warn,omitempty"`
	// IdleLeft: no input for a while; the session ends in this many seconds
	// unless the patron moves the mouse or presses a key. 0: no warning.
	IdleLeft int `json:"idle_left,omitempty"`
	// Ending: the session is being ended; the strip says so.
	Ending bool `json:"ending,omitempty"`
}

// MaxSession bounds PatronScreen.EndsAt: a grant is at most a day.
const MaxSession = 24 * time.Hour

// Empty reports whether c shows nothing.
func (c Command) Empty() bool {
	return !c.Lock && c.EndsAt == 0 && c.Msg == "" && c.Notice == "" && c.Patron.EndsAt == 0
}

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
	ReportSignIn       = "signin"        // the patron submitted the sign-in form (Card+PIN or Guest)
	ReportWarnAck      = "warn_ack"      // the patron acknowledged warning WarnID
	ReportEndSession   = "end_session"   // the patron confirmed "End my session"
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
	// Idle is the seconds since the patron's last input in the session
	// (alive; X11 screen saver info or GetLastInputInfo), 0 when not known.
	Idle int `json:"idle,omitempty"`
	// WarnID: the warning shown (alive) or acknowledged (warn_ack).
	WarnID uint64 `json:"warn_id,omitempty"`
	// Card, PIN and Guest are what the patron typed (signin only). They are
	// Secrets: never printed, and zeroed by Wipe once the sign-in is sent.
	Card  Secret `json:"card,omitempty"`
	PIN   Secret `json:"pin,omitempty"`
	Guest Secret `json:"guest,omitempty"`
}

// Wipe zeroes what the patron typed.
func (r *Report) Wipe() {
	r.Card.Wipe()
	r.PIN.Wipe()
	r.Guest.Wipe()
}

// Secret is a typed value that must not outlive its use (a PIN): bytes that
// can be zeroed, written in JSON as a string, and never printed.
type Secret []byte

// Wipe zeroes the bytes.
func (s Secret) Wipe() { clear(s) }

// String hides the value, so that a Secret logged by mistake leaks nothing.
func (s Secret) String() string { return "[secret]" }

// GoString hides the value from %#v.
func (s Secret) GoString() string { return "[secret]" }

// MarshalJSON writes the bytes as a JSON string (printable ASCII only; see
// UnmarshalJSON).
func (s Secret) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, len(s)+2)
	out = append(out, '"')
	for _, b := range s {
		if b == '"' || b == '\\' {
			out = append(out, '\\')
		}
		out = append(out, b)
	}
	return append(out, '"'), nil
}

// UnmarshalJSON reads a JSON string of printable ASCII (what a card, PIN or
// guest code may hold, protocol.SignIn) into fresh bytes. Escapes are taken
// for printable ASCII only (\", \\, \/ and \u0021 to \u007e: encoding/json
// writes <, > and & as \u003c, \u003e, \u0026); anything else is refused.
func (s *Secret) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return errors.New("secret: not a string")
	}
	b = b[1 : len(b)-1]
	out := make([]byte, 0, len(b))
	fail := func(why string) error {
		clear(out)
		return errors.New("secret: " + why)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\\' {
			if i+1 == len(b) {
				return fail("unsupported escape")
			}
			i++
			switch b[i] {
			case '"', '\\', '/':
				c = b[i]
			case 'u':
				if i+4 >= len(b) {
					return fail("unsupported escape")
				}
				v, err := strconv.ParseUint(string(b[i+1:i+5]), 16, 16)
				if err != nil {
					return fail("unsupported escape")
				}
				c, i = byte(v), i+4
				if v > 0x7e {
					return fail("not printable ASCII")
				}
			default:
				return fail("unsupported escape")
			}
		}
		if c < 0x21 || c > 0x7e {
			return fail("not printable ASCII")
		}
		out = append(out, c)
	}
	*s = out
	return nil
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
	if err := c.Patron.check(now); err != nil {
		return Command{}, fmt.Errorf("decode command: patron: %w", err)
	}
	if c.Patron.SignIn && !c.Lock {
		return Command{}, errors.New("decode command: the sign-in form needs the lock")
	}
	return c, nil
}

// DecodeReport parses and checks one report line.
func DecodeReport(line []byte) (Report, error) {
	var r Report
	if err := decodeStrict(line, &r); err != nil {
		return Report{}, fmt.Errorf("decode report: %w", err)
	}
	fail := func(err error) (Report, error) {
		r.Wipe()
		return Report{}, err
	}
	switch r.T {
	case ReportReady, ReportAlive, ReportDismissed, ReportNoticeClosed, ReportWarnAck, ReportEndSession:
		if len(r.Card) > 0 || len(r.PIN) > 0 || len(r.Guest) > 0 {
			return fail(errors.New("decode report: sign-in fields outside a sign-in"))
		}
	case ReportSignIn:
		switch {
		case len(r.Card) == 0 && len(r.Guest) == 0:
			return fail(errors.New("decode report: a sign-in without a card or a guest code"))
		case len(r.Card) > 0 && len(r.Guest) > 0, len(r.Guest) > 0 && len(r.PIN) > 0:
			return fail(errors.New("decode report: a sign-in with a card and a guest code"))
		case len(r.Card) > protocol.MaxCard || len(r.PIN) > protocol.MaxPIN || len(r.Guest) > protocol.MaxGuestCode:
			return fail(errors.New("decode report: a sign-in field too long"))
		}
	default:
		return fail(fmt.Errorf("decode report: unknown kind %q", protocol.Clip(r.T, 20)))
	}
	if r.Countdown < -1 || r.Countdown > int(MaxGrace/time.Second) || r.Windows < 0 || r.Windows > 64 ||
		r.Idle < 0 || r.Idle > 7*24*3600 {
		return fail(errors.New("decode report: value out of range"))
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

// check refuses a patron screen that is out of range.
func (p PatronScreen) check(now time.Time) error {
	if p.Refusal != "" && !p.Refusal.Known() {
		return fmt.Errorf("unknown refusal %q", protocol.Clip(string(p.Refusal), 20))
	}
	if p.EndsAt != 0 {
		d := time.UnixMilli(p.EndsAt).Sub(now)
		if p.EndsAt < 0 || d > MaxSession+time.Hour || d < -MaxSession {
			return fmt.Errorf("session end %d out of range", p.EndsAt)
		}
	}
	if p.CleanAt < 0 || p.Warn < 0 || p.Warn > 24*60 || p.IdleLeft < 0 || p.IdleLeft > 24*3600 || (p.Warn == 0) != (p.WarnID == 0) {
		return errors.New("value out of range")
	}
	if p.SignIn && p.EndsAt != 0 {
		return errors.New("the sign-in form with a running session")
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
