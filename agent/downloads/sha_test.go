package downloads

import (
	"crypto/sha256"
	"encoding/hex"
)

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// pe is enough of a Windows program for the classifier.
func pe(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 0x90
	}
	copy(b, "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff")
	return b
}
