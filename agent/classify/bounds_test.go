package classify

import (
	"archive/zip"
	"bytes"
	"strings"
	"sync"
	"testing"
)

// TestBounds checks that each configured bound blocks just past its limit
// and allows at it.
func TestBounds(t *testing.T) {
	inner := zipOf(t, zent{name: "a.txt", data: text})
	twoDeep := zipOf(t, zent{name: "inner.zip", data: inner})
	four := zipOf(t, zent{name: "1.txt", data: text}, zent{name: "2.txt", data: text}, zent{name: "3.txt", data: text}, zent{name: "4.txt", data: text})
	twoMiB := zipOf(t, zent{name: "a.bin", data: randBytes(20, 1<<20), method: 0xffff}, zent{name: "b.bin", data: randBytes(21, 1<<20), method: 0xffff})
	var log bytes.Buffer
	for i := 0; log.Len() < 10<<20; i++ {
		log.WriteString("2026-11-23 desk " + itoa(i%97) + " session " + itoa(i*7919%100003) + " ended, wipe ok\n")
	}
	tenMiBText := zipOf(t, zent{name: "log.txt", data: log.Bytes()})
	big := make([]byte, 8<<20)
	copy(big, pe())
	bigExe := zipOf(t, zent{name: "big.bin", data: big})
	cases := []struct {
		name   string
		data   []byte
		cfg    func(*Config)
		want   Verdict
		reason string
	}{
		{"depth-ok.zip", twoDeep, func(c *Config) { c.MaxDepth = 2 }, Allow, ""},
		{"depth.zip", twoDeep, func(c *Config) { c.MaxDepth = 1 }, Block, "nested more than 1 deep inside depth.zip/inner.zip"},
		{"entries-ok.zip", four, func(c *Config) { c.MaxEntries = 4 }, Allow, ""},
		{"entries.zip", four, func(c *Config) { c.MaxEntries = 3 }, Block, "more than 3 entries"},
		{"total-ok.zip", twoMiB, func(c *Config) { c.MaxTotalBytes = 2 << 20 }, Allow, ""},
		{"total.zip", twoMiB, func(c *Config) { c.MaxTotalBytes = 2<<20 - 1 }, Block, "expands past"},
		{"ratio-ok.zip", tenMiBText, func(c *Config) {}, Allow, ""},
		{"ratio.zip", tenMiBText, func(c *Config) { c.MaxRatio = 2 }, Block, "compression ratio"},
		{"buffer.zip", zipOf(t, zent{name: "inner.zip", data: twoMiB, method: 0xffff}), func(c *Config) { c.MaxBufferBytes = 1 << 20 }, Block, "cannot be inspected in memory"},
		{"buffer-ok.zip", zipOf(t, zent{name: "inner.zip", data: twoMiB, method: 0xffff}), func(c *Config) {}, Allow, ""},
		{"late-magic.zip", bigExe, func(c *Config) {}, Block, "PE"},
		// A gzip stream has no declared size: the guard counts as it reads.
		{"stream-ratio.gz", gzipZeros(t, 64), func(c *Config) {}, Block, "archive bomb: compression ratio"},
		{"stream-total.gz", gz(t, randBytes(22, 3<<20), "x.bin"), func(c *Config) { c.MaxTotalBytes = 2 << 20 }, Block, "expands past the size limit"},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		c.cfg(&cfg)
		r, err := New(cfg).Reader(c.name, bytes.NewReader(c.data), int64(len(c.data)), 0)
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != c.want || !strings.Contains(r.Reason, c.reason) {
			t.Errorf("%s: %s (%s), want %s %q", c.name, r.Verdict, r.Reason, c.want, c.reason)
		}
	}
}

// TestLyingZipSizes: entries whose central directory understates their size
// are read to the end and refused, never trusted.
func TestLyingZipSizes(t *testing.T) {
	d, crc := zeroDeflate(t, 20)
	for _, declared := range []uint64{0, 100, 20<<20 - 1} {
		z := rawZip(t, &zip.FileHeader{Name: "a.txt", Method: zip.Deflate, CRC32: crc,
			CompressedSize64: uint64(len(d)), UncompressedSize64: declared}, d)
		r, _ := New(DefaultConfig()).Reader("a.zip", bytes.NewReader(z), int64(len(z)), 0)
		if r.Verdict != Block {
			t.Errorf("declared %d of 20 MiB: %s (%s)", declared, r.Verdict, r.Reason)
		}
	}
}

func TestShrunkFileIsAnError(t *testing.T) {
	data := pdf("x")
	r, err := New(DefaultConfig()).Reader("a.pdf", bytesReaderAt(data), int64(len(data))+4096, 0)
	if err == nil || r.Verdict != Block {
		t.Fatalf("size larger than the data: %+v, %v; want block and an error", r, err)
	}
}

// bytesReaderAt returns io.EOF past the end, like a file that shrank.
func bytesReaderAt(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// TestConcurrentUse judges the corpus from several goroutines with one
// Classifier (run with -race).
func TestConcurrentUse(t *testing.T) {
	cl := New(DefaultConfig())
	cs := append(hostileCases(t), benignCases(t)...)
	var wg sync.WaitGroup
	errs := make(chan string, 4*len(cs))
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < len(cs); i += 2 {
				c := cs[i]
				r, err := cl.Reader(c.name, bytes.NewReader(c.data), int64(len(c.data)), c.mode)
				if err != nil || r.Verdict != c.want || r.SHA256 != sum(c.data) {
					errs <- c.name + ": " + string(r.Verdict) + " " + r.Reason
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
