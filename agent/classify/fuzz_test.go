package classify

import (
	"archive/zip"
	"bytes"
	"io"
	"strings"
	"testing"
)

// hostileMagic are prefixes that must never be allowed, whatever follows
// them and whatever the name.
var hostileMagic = []string{
	"MZ", "\x7fELF", "\xfe\xed\xfa\xce", "\xce\xfa\xed\xfe", "\xfe\xed\xfa\xcf", "\xcf\xfa\xed\xfe",
	"\xca\xfe\xba\xbe", "#!", "\xef\xbb\xbf#!", "ITSF", "MSCF\x00\x00\x00\x00", "7z\xbc\xaf\x27\x1c", "Rar!\x1a\x07\x00",
	"Rar!\x1a\x07\x01\x00", "\xfd7zXZ\x00", "vhdxfile", "conectix",
	"L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46",
}

// seedCases adds the small files of the generated corpus as fuzz seeds.
func seedCases(f *testing.F, add func(tcase)) {
	for _, c := range append(hostileCases(f), benignCases(f)...) {
		if len(c.data) <= 64<<10 {
			add(c)
		}
	}
}

// FuzzClassify: arbitrary bytes and name never panic, always give a verdict
// and the right hash, never allow a known-hostile magic prefix, and never
// judge more kindly with the content than the name alone.
func FuzzClassify(f *testing.F) {
	seedCases(f, func(c tcase) { f.Add(c.data, c.name) })
	// A small expansion budget keeps mutated compressed inputs from spending
	// the default gigabyte per run; the properties do not depend on it.
	cfg := DefaultConfig()
	cfg.MaxTotalBytes = 4 << 20
	cl := New(cfg)
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		r, err := cl.Reader(name, bytes.NewReader(data), int64(len(data)), 0)
		if err != nil {
			t.Fatalf("Reader over memory failed: %v", err)
		}
		switch r.Verdict {
		case Allow, Block, AllowNoExec:
		default:
			t.Fatalf("verdict %q", r.Verdict)
		}
		if r.Reason == "" || unsafeText(r.Reason) {
			t.Fatalf("reason %+q: empty, or with control or format characters", r.Reason)
		}
		if r.SHA256 != sum(data) || r.Size != int64(len(data)) {
			t.Fatalf("hash %s size %d, want %s %d", r.SHA256, r.Size, sum(data), len(data))
		}
		for _, m := range hostileMagic {
			if strings.HasPrefix(string(data), m) && r.Verdict != Block {
				t.Fatalf("%q with magic %q: %s (%s)", name, m, r.Verdict, r.Reason)
			}
		}
		if nr, blocks := cl.Name(name); blocks && r.Verdict != Block {
			t.Fatalf("Name(%q) blocks (%s) but Reader says %s", name, nr.Reason, r.Verdict)
		}
	})
}

// FuzzZip feeds arbitrary bytes to the zip walker. An allowed archive must
// read back cleanly with archive/zip: every entry unencrypted, complete,
// matching its checksum, and free of executable magic.
func FuzzZip(f *testing.F) {
	seedCases(f, func(c tcase) {
		if bytes.HasPrefix(c.data, []byte("PK")) {
			f.Add(c.data)
		}
	})
	cfg := DefaultConfig()
	cfg.MaxTotalBytes = 4 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		w := &walker{cfg: &cfg}
		n := &node{path: "f.zip", name: "f.zip", header: data[:min(len(data), headerSize)], ra: bytes.NewReader(data), size: int64(len(data))}
		res := w.zip(n)
		if res.verdict == Block {
			return
		}
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("allowed (%s) but archive/zip fails: %v", res.reason, err)
		}
		for _, zf := range zr.File {
			if zf.Flags&1 != 0 {
				t.Fatalf("allowed an encrypted entry %q", zf.Name)
			}
			if strings.HasSuffix(zf.Name, "/") && zf.UncompressedSize64 == 0 {
				continue
			}
			rc, err := zf.Open()
			if err != nil {
				t.Fatalf("allowed, but entry %q does not open: %v", zf.Name, err)
			}
			b, err := io.ReadAll(rc)
			if err != nil {
				t.Fatalf("allowed, but entry %q does not read: %v", zf.Name, err)
			}
			if _, reason := sniff(b[:min(len(b), headerSize)]); reason != "" {
				t.Fatalf("allowed, but entry %q is %s", zf.Name, reason)
			}
			if ni := w.judgeName(zf.Name); ni.verdict == Block {
				t.Fatalf("allowed, but entry name %q: %s", zf.Name, ni.reason)
			}
		}
	})
}

// FuzzOLE: the compound-file reader never panics or loops on any input.
func FuzzOLE(f *testing.F) {
	seedCases(f, func(c tcase) {
		if bytes.HasPrefix(c.data, []byte("\xd0\xcf\x11\xe0")) {
			f.Add(c.data)
		}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := readOLE(bytes.NewReader(data), int64(len(data)))
		if err == nil && len(info.names) == 0 {
			t.Fatal("no error and no directory entries")
		}
	})
}

// FuzzName: any name gets a judgement; bidi controls are always blocked.
func FuzzName(f *testing.F) {
	seedCases(f, func(c tcase) { f.Add(c.name) })
	cl := New(DefaultConfig())
	f.Fuzz(func(t *testing.T, name string) {
		r, blocks := cl.Name(name)
		if blocks != (r.Verdict == Block) || r.Reason == "" {
			t.Fatalf("Name(%q) = %+v, %v", name, r, blocks)
		}
		if strings.ContainsFunc(name, isBidi) && !blocks {
			t.Fatalf("Name(%q) with a bidi control allowed", name)
		}
	})
}
