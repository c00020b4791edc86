package protocol

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AuditHead is a signed statement of the hub's audit chain: "at Time, the
// chain's row Seq had hash Hash", signed with the hub's CA key. The hub writes
// heads outside its database (into the OS log every few minutes and at
// shutdown, into every backup) and sends one to each agent (Welcome) and
// console (hub.info), which keep the highest they saw. A chain that no longer
// holds a head's row, or holds another hash there, was cut short, rewound or
// rewritten; `carrel-hub audit verify` checks the heads it is given.
//
// Its text form, for logs and for a person to copy, is one token:
// ah1.<seq>.<hash hex>.<unix ms>.<signature base64url>.
type AuditHead struct {
	Seq  int64     `json:"seq"`
	Hash []byte    `json:"hash"` // 32 bytes: the row's chain hash
	Time time.Time `json:"time"`
	Sig  []byte    `json:"sig"` // ASN.1 ECDSA over SignedBytes, by the CA key
}

const auditHeadPrefix = "ah1"

// SignedBytes is what the signature covers.
func (h AuditHead) SignedBytes() []byte {
	return fmt.Appendf(nil, "carrel audit head v1\nseq=%d\nhash=%x\ntime=%d\n", h.Seq, h.Hash, h.Time.UnixMilli())
}

// String is the head's text form.
func (h AuditHead) String() string {
	return strings.Join([]string{auditHeadPrefix, strconv.FormatInt(h.Seq, 10), hex.EncodeToString(h.Hash),
		strconv.FormatInt(h.Time.UnixMilli(), 10), base64.RawURLEncoding.EncodeToString(h.Sig)}, ".")
}

// ParseAuditHead reads a head's text form. It checks the form only; the
// signature is checked against the CA (pki.VerifyAuditHead).
func ParseAuditHead(s string) (AuditHead, error) {
	bad := func(why string) (AuditHead, error) {
		return AuditHead{}, fmt.Errorf("audit head: %w: %s", ErrInvalid, why)
	}
	if len(s) > 512 {
		return bad("longer than 512 bytes")
	}
	f := strings.Split(strings.TrimSpace(s), ".")
	if len(f) != 5 || f[0] != auditHeadPrefix {
		return bad("not " + auditHeadPrefix + ".SEQ.HASH.TIME.SIG")
	}
	var h AuditHead
	var err error
	if h.Seq, err = strconv.ParseInt(f[1], 10, 64); err != nil || h.Seq < 0 {
		return bad("seq is not a row number")
	}
	if h.Hash, err = hex.DecodeString(f[2]); err != nil || len(h.Hash) != 32 {
		return bad("hash is not 32 bytes of hex")
	}
	ms, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil || ms < 0 || ms > 1<<50 {
		return bad("time is not unix milliseconds")
	}
	h.Time = time.UnixMilli(ms).UTC()
	if h.Sig, err = base64.RawURLEncoding.DecodeString(f[4]); err != nil || len(h.Sig) == 0 || len(h.Sig) > 160 {
		return bad("signature is not base64url")
	}
	return h, nil
}

// FindAuditHeads returns every head's text form found in text (log lines, a
// console's note, a file of heads), in order; lines without one are skipped.
func FindAuditHeads(text string) []AuditHead {
	var out []AuditHead
	for _, w := range strings.FieldsFunc(text, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '"' || r == '=' || r == ','
	}) {
		if !strings.HasPrefix(w, auditHeadPrefix+".") {
			continue
		}
		if h, err := ParseAuditHead(w); err == nil {
			out = append(out, h)
		}
	}
	return out
}
