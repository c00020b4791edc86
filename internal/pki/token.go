package pki

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
)

// TokenBytes is the entropy of an enrollment token.
const TokenBytes = 32

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrBadToken is returned by HashToken for a string that cannot be a token.
var ErrBadToken = errors.New("malformed enrollment token")

// NewToken makes an enrollment token: 32 random bytes printed as base32 without
// padding. Only hash (its SHA-256) is meant to be stored.
func NewToken() (token string, hash [32]byte, err error) {
	b := make([]byte, TokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", hash, fmt.Errorf("random token: %w", err)
	}
	return tokenEncoding.EncodeToString(b), sha256.Sum256(b), nil
}

// HashToken is the stored form of a token as typed: case and surrounding spaces are
// forgiven, anything else that is not 32 base32-encoded bytes is ErrBadToken.
func HashToken(token string) ([32]byte, error) {
	b, err := tokenEncoding.DecodeString(strings.ToUpper(strings.TrimSpace(token)))
	if err != nil || len(b) != TokenBytes {
		return [32]byte{}, ErrBadToken
	}
	return sha256.Sum256(b), nil
}

// TokenHashEqual compares two token hashes in constant time.
func TokenHashEqual(a, b []byte) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare(a, b) == 1
}
