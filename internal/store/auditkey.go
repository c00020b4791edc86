package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
)

// AuditKeyFile is the audit key's default file name, in the hub's data
// directory beside (not inside) hub.db. Config can put it elsewhere.
const AuditKeyFile = "audit.key"

// LoadAuditKey reads an audit key file: "carrel audit key v1", then
// "key=<64 hex>" and "from=<first row>".
func LoadAuditKey(path string) (AuditKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return AuditKey{}, fmt.Errorf("read audit key: %w", err)
	}
	var k AuditKey
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 || lines[0] != "carrel audit key v1" {
		return k, fmt.Errorf("read audit key %s: not an audit key file", path)
	}
	hexKey, ok1 := strings.CutPrefix(lines[1], "key=")
	from, ok2 := strings.CutPrefix(lines[2], "from=")
	if k.Key, err = hex.DecodeString(hexKey); !ok1 || !ok2 || err != nil || len(k.Key) != 32 {
		return k, fmt.Errorf("read audit key %s: damaged key line", path)
	}
	if k.From, err = strconv.ParseInt(from, 10, 64); err != nil || k.From < 1 {
		return k, fmt.Errorf("read audit key %s: damaged from line", path)
	}
	return k, nil
}

// LoadOrCreateAuditKey reads the audit key at path, or creates one (0600)
// covering the rows from next on: the next row the chain will get.
func LoadOrCreateAuditKey(path string, next int64) (AuditKey, error) {
	k, err := LoadAuditKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	k = AuditKey{Key: make([]byte, 32), From: max(next, 1)}
	rand.Read(k.Key)
	text := fmt.Sprintf("carrel audit key v1\nkey=%x\nfrom=%d\n", k.Key, k.From)
	if err := atomicfile.WriteFile(path, []byte(text), 0o600); err != nil {
		return AuditKey{}, fmt.Errorf("write audit key: %w", err)
	}
	return k, nil
}
