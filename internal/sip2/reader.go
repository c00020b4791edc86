package sip2

import (
	"bufio"
	"io"
)

// Reader reads messages off a stream. It takes '\r', '\n' or "\r\n" as the
// end of a message whatever the profile sends (ILSes differ, and a reader
// that accepts all three costs nothing), and refuses a message longer than
// MaxMessage after reading at most that much of it.
type Reader struct {
	br  *bufio.Reader
	buf []byte
}

// NewReader reads from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 4096)}
}

// ReadMessage returns the next message without its terminator; the slice is
// valid until the next call. Blank lines (the '\n' of a "\r\n" pair) are
// skipped. io.EOF means the stream ended between messages,
// io.ErrUnexpectedEOF inside one; an over-long message is a *DecodeError
// wrapping ErrTooLong, after which the stream cannot be resynchronised.
func (r *Reader) ReadMessage() ([]byte, error) {
	r.buf = r.buf[:0]
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			if err == io.EOF && len(r.buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if c == '\r' || c == '\n' {
			if len(r.buf) == 0 {
				continue
			}
			return r.buf, nil
		}
		if len(r.buf) >= MaxMessage {
			return nil, &DecodeError{Err: ErrTooLong}
		}
		r.buf = append(r.buf, c)
	}
}
