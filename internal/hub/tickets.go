package hub

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
)

// TicketKeyFile holds the secret the hub derives its TLS session ticket keys
// from, in the data directory. Agents resume their TLS session when they
// reconnect (a hub restart, a network blip): no certificate chains are sent,
// signed or verified again, which halves the cost of a reconnect storm on
// both sides. The secret outlives a restart so that the storm after one is
// resumed too. Whoever can read it could resume a session's keys only with
// that session's ticket, and can read the CA key beside it anyway; losing it
// costs one full handshake per agent.
//
// Resumption changes nothing that is checked per connection: handleAgent
// looks up the certificate (revoked, superseded, expired) on every one.
const TicketKeyFile = "ticket.key"

// ticketKeyDays is how many daily keys are accepted: today's, which issues
// tickets, and the days before it.
const ticketKeyDays = 2

// loadOrCreateTicketSecret reads the ticket secret at path, or makes one
// (0600).
func loadOrCreateTicketSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		line, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "carrel ticket secret v1 ")
		secret, herr := hex.DecodeString(line)
		if !ok || herr != nil || len(secret) != 32 {
			return nil, fmt.Errorf("read %s: not a ticket secret file (delete it: a new one is made, and agents do one full handshake)", path)
		}
		return secret, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read ticket secret: %w", err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	if err := atomicfile.WriteFile(path, []byte(fmt.Sprintf("carrel ticket secret v1 %x\n", secret)), 0o600); err != nil {
		return nil, fmt.Errorf("write ticket secret: %w", err)
	}
	return secret, nil
}

// ticketKeys derives the session ticket keys for the UTC day of now and the
// days before it, newest (the one that encrypts) first.
func ticketKeys(secret []byte, now time.Time) [][32]byte {
	day := now.UTC().Unix() / 86400
	keys := make([][32]byte, ticketKeyDays)
	for i := range keys {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("carrel session ticket key, day "))
		binary.Write(m, binary.BigEndian, day-int64(i))
		copy(keys[i][:], m.Sum(nil))
	}
	return keys
}

// rotateTicketKeys sets cfg's ticket keys for now.
func rotateTicketKeys(cfg *tls.Config, secret []byte, now time.Time) {
	cfg.SetSessionTicketKeys(ticketKeys(secret, now))
}
