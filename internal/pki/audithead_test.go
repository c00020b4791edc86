package pki

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func TestAuditHeadSignature(t *testing.T) {
	ca, err := LoadOrCreate(filepath.Join(t.TempDir(), "a"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadOrCreate(filepath.Join(t.TempDir(), "b"))
	if err != nil {
		t.Fatal(err)
	}
	hash := bytes.Repeat([]byte{7}, 32)
	h, err := ca.SignAuditHead(42, hash, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	back, err := protocol.ParseAuditHead(h.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyAuditHead(ca.Cert(), back); err != nil {
		t.Fatalf("own head through its text form: %v", err)
	}
	if err := VerifyAuditHead(other.Cert(), back); !errors.Is(err, ErrBadAuditHead) {
		t.Fatalf("another CA's certificate accepted the head: %v", err)
	}
	for name, change := range map[string]func(*protocol.AuditHead){
		"seq":  func(h *protocol.AuditHead) { h.Seq-- },
		"hash": func(h *protocol.AuditHead) { h.Hash = bytes.Repeat([]byte{8}, 32) },
		"time": func(h *protocol.AuditHead) { h.Time = h.Time.Add(-time.Hour) },
	} {
		c := back
		change(&c)
		if err := VerifyAuditHead(ca.Cert(), c); !errors.Is(err, ErrBadAuditHead) {
			t.Errorf("head with a changed %s verified: %v", name, err)
		}
	}
}
