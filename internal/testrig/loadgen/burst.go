package loadgen

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// BurstOptions describe a burst of downloads written into a patron folder the
// way browsers write them: a partial file (NAME.crdownload) written in chunks,
// then renamed to its final name.
type BurstOptions struct {
	Dir   string        // a download folder the agent's guard watches
	Files int           // how many downloads
	Size  int           // bytes each
	Over  time.Duration // spread over this long
}

// Burst writes the downloads: every other one is a Windows executable (MZ
// header, which the guard blocks), the rest plain PDF-looking documents. It
// returns how many it wrote.
func Burst(ctx context.Context, opt BurstOptions) (int, error) {
	if opt.Files <= 0 {
		return 0, nil
	}
	if opt.Size < 64 {
		opt.Size = 64
	}
	step := opt.Over / time.Duration(opt.Files)
	chunk := make([]byte, 64<<10)
	for i := range opt.Files {
		if i > 0 && step > 0 {
			select {
			case <-ctx.Done():
				return i, ctx.Err()
			case <-time.After(step): // pacing the burst
			}
		}
		name, head := fmt.Sprintf("report-%04d.pdf", i), []byte("%PDF-1.7\n")
		if i%2 == 1 {
			name, head = fmt.Sprintf("setup-%04d.exe", i), []byte("MZ\x90\x00\x03\x00\x00\x00")
		}
		part := filepath.Join(opt.Dir, name+".crdownload")
		f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return i, fmt.Errorf("burst: %w", err)
		}
		_, err = f.Write(head)
		for left := opt.Size - len(head); err == nil && left > 0; left -= len(chunk) {
			rand.Read(chunk)
			_, err = f.Write(chunk[:min(left, len(chunk))])
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(part, filepath.Join(opt.Dir, name))
		}
		if err != nil {
			return i, fmt.Errorf("burst: %w", err)
		}
	}
	return opt.Files, nil
}
