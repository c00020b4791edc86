package classify

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The benchmark corpus: about 200 MB of mixed downloads on disk, built once
// per test binary and removed by TestMain.
var (
	benchOnce  sync.Once
	benchDir   string
	benchFiles []string
	benchBytes int64
	benchErr   error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// benchCorpus writes the mixed corpus: PDF- and JPEG-like files of random
// data, programs, zips of random and of text (stored and deflated), docx-like
// packages and tar.gz archives.
func benchCorpus(b *testing.B) ([]string, int64) {
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "carrel-classify-bench-")
		if benchErr != nil {
			return
		}
		add := func(name string, data []byte) {
			p := filepath.Join(benchDir, name)
			if err := os.WriteFile(p, data, 0o644); err != nil && benchErr == nil {
				benchErr = err
			}
			benchFiles = append(benchFiles, p)
			benchBytes += int64(len(data))
		}
		seed := uint64(100)
		rnd := func(n int) []byte { seed++; return randBytes(seed, n) }
		for i := range 40 {
			d := rnd(2 << 20)
			copy(d, "%PDF-1.7\n")
			add("doc"+itoa(i)+".pdf", d)
		}
		for i := range 30 {
			d := rnd(1 << 20)
			copy(d, "\xff\xd8\xff\xe0")
			add("photo"+itoa(i)+".jpg", d)
		}
		for i := range 20 {
			d := rnd(1 << 20)
			copy(d, pe())
			add("setup"+itoa(i)+".exe.bin", d)
		}
		for i := range 10 {
			var ents []zent
			for j := range 4 {
				method := uint16(0xffff) // stored, like photos in a zip
				if j%2 == 1 {
					method = zip.Deflate
				}
				ents = append(ents, zent{name: "dir/photo" + itoa(j) + ".jpg", data: rnd(1 << 20), method: method})
			}
			add("photos"+itoa(i)+".zip", zipOf(b, ents...))
		}
		text := bytes.Repeat([]byte("<w:p><w:r><w:t>The library opens at nine on weekdays.</w:t></w:r></w:p>\n"), 40000)
		for i := range 5 {
			add("report"+itoa(i)+".docx", ooxml(b, "docx", zent{name: "word/media/image1.png", data: rnd(1 << 20), method: 0xffff},
				zent{name: "word/body.xml", data: text}))
		}
		for i := range 5 {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, flate.BestSpeed)
			zw.Write(tarOf(b, tent{name: "a/x.pdf", data: rnd(2 << 20)}, tent{name: "a/y.csv", data: rnd(2 << 20)}))
			zw.Close()
			add("backup"+itoa(i)+".tar.gz", buf.Bytes())
		}
		// Warm the page cache so both benchmarks read from memory.
		for _, p := range benchFiles {
			if f, err := os.Open(p); err == nil {
				io.Copy(io.Discard, f)
				f.Close()
			}
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchFiles, benchBytes
}

// BenchmarkClassifyCorpus judges the whole corpus with File, one file after
// another (as the download guard does); MB/s is over the corpus' bytes.
func BenchmarkClassifyCorpus(b *testing.B) {
	files, total := benchCorpus(b)
	cl := New(DefaultConfig())
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, p := range files {
			if _, err := cl.File(p); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkSha256sumCorpus runs the real sha256sum over the same files, so
// both figures come from one run: the classifier's target is at least 80 %
// of this.
func BenchmarkSha256sumCorpus(b *testing.B) {
	bin, err := exec.LookPath("sha256sum")
	if err != nil {
		b.Skip("no sha256sum:", err)
	}
	files, total := benchCorpus(b)
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		if out, err := exec.Command(bin, files...).CombinedOutput(); err != nil {
			b.Fatalf("sha256sum: %v\n%s", err, out)
		}
	}
}
