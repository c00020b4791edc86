package hub

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/wsserve"
)

func pemKey(t testing.TB, key *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// FuzzEnrollHandler feeds arbitrary bodies to the enrollment handler of a real hub
// (real store, real CA): it must always answer 200 or a 4xx ErrorResponse, never
// panic or 5xx.
func FuzzEnrollHandler(f *testing.F) {
	csr, _ := newCSR(f)
	good, _ := json.Marshal(protocol.EnrollRequest{Token: "AAAA", CSR: csr, Hostname: "pc", OS: "linux"})
	for _, seed := range []string{string(good), "{not json", `{"token":"x","csr":"y","hostname":"h","os":"l","admin":true}`,
		`{"token":"` + string(bytes.Repeat([]byte("A"), 52)) + `","csr":"nope","hostname":"h","os":"linux"}`, "", "null", "[]", `{"token":1}`} {
		f.Add([]byte(seed))
	}
	h, err := New(Config{DataDir: filepath.Join(f.TempDir(), "data"), Listen: "127.0.0.1:0", NoControlSocket: true,
		EnrollPerMinute: 1e9, EnrollBurst: 1 << 30}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, protocol.PathEnroll, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.handleEnroll(rec, req)
		if rec.Code == http.StatusOK {
			t.Fatalf("enrolled without a valid token: %q", body)
		}
		if rec.Code < 400 || rec.Code >= 500 {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		var e protocol.ErrorResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Fatalf("answer is not an ErrorResponse: %q", rec.Body.String())
		}
	})
}

// FuzzDecodeEnroll checks the decoding step alone, seeded from the table tests.
func FuzzDecodeEnroll(f *testing.F) {
	csr, _ := newCSR(f)
	good, _ := json.Marshal(protocol.EnrollRequest{Token: "AAAA", CSR: csr, Hostname: "pc", OS: "linux"})
	f.Add(good)
	f.Add([]byte("{garbage"))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeEnroll(body)
		if err != nil {
			if _, ok := err.(*enrollError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		if req.Validate() != nil {
			t.Fatal("accepted an invalid request")
		}
	})
}

// FuzzClassifyFrame feeds arbitrary frames to the hub's per-frame decoding: it must
// either return a message an agent may send after Hello, or a close code and a
// reason that fits a close frame.
func FuzzClassifyFrame(f *testing.F) {
	for _, m := range []protocol.Message{event(1), &protocol.Result{ID: "c-1", OK: true}, &protocol.Renew{CSR: "x"},
		&protocol.Ack{Seq: 1}, &protocol.Hello{TerminalID: "t", Status: status("h")}} {
		b, err := protocol.Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(true, b)
	}
	st := status("h")
	b, _ := protocol.Encode(&st)
	f.Add(true, b)
	for _, s := range []string{"{garbage", `{"v":1,"type":"exec","body":{}}`, `{"v":9,"type":"event","body":{}}`, "", "null"} {
		f.Add(true, []byte(s))
	}
	f.Add(false, []byte{0, 1})
	f.Fuzz(func(t *testing.T, text bool, data []byte) {
		kind := 2 // binary
		if text {
			kind = 1
		}
		m, code, why := classifyFrame(kind, data)
		if m != nil {
			if !protocol.FromAgent(m.MsgType()) || m.MsgType() == protocol.TypeHello || m.Validate() != nil {
				t.Fatalf("accepted %s", m.MsgType())
			}
			return
		}
		if code != wsserve.ClosePolicyViolation && code != wsserve.CloseTooBig {
			t.Fatalf("close code %d", code)
		}
		if why == "" || len(protocol.Clip(why, 123)) > 123 {
			t.Fatalf("close reason %q", why)
		}
	})
}
