package classify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Verdict is the classifier's decision about one file.
type Verdict string

const (
	// Allow: the file may stay and be opened.
	Allow Verdict = "allow"
	// Block: the file must go to quarantine.
	Block Verdict = "block"
	// AllowNoExec: the file may stay but must never be executed (for example
	// it carries an exec bit, or it is an Office document with macros while
	// Config.BlockOfficeMacros is off).
	AllowNoExec Verdict = "allow-noexec"
)

// severity orders verdicts: a worse verdict wins when findings combine.
func (v Verdict) severity() int {
	switch v {
	case Allow:
		return 0
	case AllowNoExec:
		return 1
	default:
		return 2
	}
}

// Result is the judgement of one file.
type Result struct {
	Verdict Verdict `json:"verdict"`
	// Reason is for humans, e.g. "Windows program (PE) inside invoice.zip/setup.exe".
	// It may quote file names; display it as plain text.
	Reason string `json:"reason"`
	// SHA256 is the lowercase hex SHA-256 of the whole file (empty from Name).
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Kind is the detected content type of the file itself, e.g. "pe", "pdf", "zip".
	Kind string `json:"kind,omitempty"`
}

// Config is the classifier's policy. It is the [classify] section of the agent's
// configuration file. The hash lists win over everything else: a file whose
// SHA-256 is on BlockSHA256 is blocked, otherwise a file on AllowSHA256 is
// allowed, whatever its name or content; only then do name and content count.
type Config struct {
	// AllowSHA256 lists lowercase hex SHA-256 sums of files that are always
	// allowed (staff-approved downloads). Default: empty.
	AllowSHA256 []string `toml:"allow_sha256"`
	// BlockSHA256 lists SHA-256 sums of files that are always blocked; it wins
	// over AllowSHA256. Default: empty.
	BlockSHA256 []string `toml:"block_sha256"`
	// BlockOfficeMacros blocks Office documents that carry VBA macros (OOXML
	// vbaProject.bin in .docm/.xlsm/.pptm, VBA storages in OLE .doc/.xls)
	// and the macro-enabled extensions (.docm, .xlsm, ...) by name. When false
	// such documents get allow-noexec with a reason: the patron may read them,
	// and Office's macro policy is the layer that keeps the macros off.
	// Default: false.
	BlockOfficeMacros bool `toml:"block_office_macros"`
	// MaxDepth is how deep containers may nest (a zip in a zip is depth 2; a
	// .tar.gz is depth 2). Deeper → block. Default: 5. 0 or less means the default.
	MaxDepth int `toml:"max_depth"`
	// MaxEntries is the most archive entries, summed over all nested archives,
	// that one file may hold. More → block. Default: 10000.
	MaxEntries int `toml:"max_entries"`
	// MaxTotalBytes is the most bytes that decompression (zip entries, gzip
	// and bzip2 streams, at every depth) may produce for one file. More →
	// block (a bomb).
	// Default: 1 GiB (1073741824).
	MaxTotalBytes int64 `toml:"max_total_bytes"`
	// MaxRatio is the highest uncompressed:compressed ratio allowed for an
	// archive entry or a compressed stream once it passes 8 MiB uncompressed
	// (a blank bitmap may compress 1000:1; below 8 MiB that costs nothing).
	// Higher → block (a bomb). Real documents stay well under 100:1.
	// Default: 200.
	MaxRatio int64 `toml:"max_ratio"`
	// MaxBufferBytes is the largest nested archive or compound file (a zip
	// inside a zip, an OLE file inside a zip) that is held in memory to be
	// inspected. Larger → block. Default: 64 MiB (67108864).
	MaxBufferBytes int64 `toml:"max_buffer_bytes"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		MaxDepth:       5,
		MaxEntries:     10000,
		MaxTotalBytes:  1 << 30,
		MaxRatio:       200,
		MaxBufferBytes: 64 << 20,
	}
}

// Validate reports malformed hash list entries. New ignores them, so a
// configuration loader should call Validate and refuse to start on an error.
func (c Config) Validate() error {
	for _, list := range []struct {
		name string
		sums []string
	}{{"allow_sha256", c.AllowSHA256}, {"block_sha256", c.BlockSHA256}} {
		for _, s := range list.sums {
			if _, ok := parseSHA256(s); !ok {
				return fmt.Errorf("classify: %s: %q is not a hex SHA-256", list.name, s)
			}
		}
	}
	return nil
}

func parseSHA256(s string) ([32]byte, bool) {
	var sum [32]byte
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(sum) {
		return sum, false
	}
	copy(sum[:], b)
	return sum, true
}

// Classifier judges files. Build it with New; it is safe for concurrent use.
type Classifier struct {
	cfg   Config
	allow map[[32]byte]bool
	block map[[32]byte]bool
}

// New returns a Classifier for cfg. Bounds that are zero or negative take
// their default; malformed hash list entries are ignored (see Config.Validate).
func New(cfg Config) *Classifier {
	d := DefaultConfig()
	if cfg.MaxDepth <= 0 {
		cfg.MaxDepth = d.MaxDepth
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = d.MaxEntries
	}
	if cfg.MaxTotalBytes <= 0 {
		cfg.MaxTotalBytes = d.MaxTotalBytes
	}
	if cfg.MaxRatio <= 0 {
		cfg.MaxRatio = d.MaxRatio
	}
	if cfg.MaxBufferBytes <= 0 {
		cfg.MaxBufferBytes = d.MaxBufferBytes
	}
	c := &Classifier{cfg: cfg, allow: map[[32]byte]bool{}, block: map[[32]byte]bool{}}
	for _, s := range cfg.AllowSHA256 {
		if sum, ok := parseSHA256(s); ok {
			c.allow[sum] = true
		}
	}
	for _, s := range cfg.BlockSHA256 {
		if sum, ok := parseSHA256(s); ok {
			c.block[sum] = true
		}
	}
	return c
}

// File judges the file at path. It does not follow a symbolic link: a link
// (or anything else that is not a regular file) is blocked without being
// opened. The file is read once, sequentially, for both the hash and the
// header; archives are then read again by random access (their central
// directory and entries), never extracted. The error is non-nil only when the
// file could not be read; the Result then says block, so a caller that
// ignores the error still fails closed.
func (c *Classifier) File(path string) (Result, error) {
	lst, err := os.Lstat(path)
	if err != nil {
		return unreadable(err), fmt.Errorf("stat %s: %w", path, err)
	}
	if lst.Mode()&fs.ModeSymlink != 0 {
		return Result{Verdict: Block, Reason: "symbolic link", Kind: "symlink"}, nil
	}
	if !lst.Mode().IsRegular() {
		return Result{Verdict: Block, Reason: "not a regular file (" + lst.Mode().Type().String() + ")"}, nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openNoFollow, 0)
	if err != nil {
		return unreadable(err), fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return unreadable(err), fmt.Errorf("stat %s: %w", path, err)
	}
	if !os.SameFile(lst, st) || !st.Mode().IsRegular() {
		// Swapped between Lstat and open: judge nothing we did not mean to open.
		return unreadable(errReplaced), fmt.Errorf("open %s: %w", path, errReplaced)
	}
	return c.Reader(path, f, st.Size(), st.Mode())
}

var (
	errReplaced = errors.New("file was replaced while being opened")
	errShrunk   = errors.New("file shrank while being read")
)

// countingHash counts the bytes hashed.
type countingHash struct {
	hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.Hash.Write(p)
}

func unreadable(err error) Result {
	return Result{Verdict: Block, Reason: "could not be read: " + quote(err.Error())}
}

// Reader judges size bytes of r, named name (a path or a bare file name; every
// path component is judged, the last one as the file name) with permission
// bits mode (pass 0 when unknown). The error is non-nil only when r fails; the
// Result then says block.
func (c *Classifier) Reader(name string, r io.ReaderAt, size int64, mode fs.FileMode) (Result, error) {
	if size < 0 {
		return Result{Verdict: Block, Reason: "negative size"}, fmt.Errorf("classify %s: negative size %d", name, size)
	}
	rec := &recordingReaderAt{r: r}
	w := &walker{cfg: &c.cfg}
	h := &countingHash{Hash: sha256.New()}
	sr := io.NewSectionReader(rec, 0, size)

	bufp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bufp)
	buf := *bufp
	hn, _ := io.ReadFull(sr, buf[:headerSize])
	h.Write(buf[:hn])
	header := append([]byte(nil), buf[:hn]...)

	n := &node{path: baseName(name), name: name, header: header, rest: io.TeeReader(sr, h), ra: rec, size: size, mode: mode}
	f := w.inspect(n)
	// Finish the hash over the rest of the file, in one sequential pass.
	if _, err := io.CopyBuffer(h, sr, buf); err != nil && rec.err == nil {
		rec.err = err
	}
	if rec.err == nil && h.n != size {
		rec.err = errShrunk // truncated while being read: the hash is of nothing real
	}
	if rec.err != nil {
		res := unreadable(rec.err)
		res.Size = size
		return res, fmt.Errorf("read %s: %w", name, rec.err)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	res := Result{Verdict: f.verdict, Reason: f.reason, SHA256: hex.EncodeToString(sum[:]), Size: size, Kind: n.kind}
	switch {
	case c.block[sum]:
		res.Verdict, res.Reason = Block, "SHA-256 is on the block list"
	case c.allow[sum]:
		res.Verdict, res.Reason = Allow, "SHA-256 is on the allow list"
	case res.Verdict == Allow && res.Reason == "":
		res.Reason = "no executable content found"
	}
	return res, nil
}

// Name judges a file name alone, for files not yet complete (a browser's
// .crdownload or .part file: the partial-download suffix is looked through).
// It returns a block Result and true when the name alone is enough to block
// the file; otherwise an allow Result and false, meaning the content must
// still be judged with File or Reader once the file is complete.
func (c *Classifier) Name(name string) (Result, bool) {
	w := &walker{cfg: &c.cfg}
	f := w.judgeName(name)
	if f.verdict == Block {
		return Result{Verdict: Block, Reason: f.reason}, true
	}
	return Result{Verdict: Allow, Reason: "name gives no reason to block; content not judged"}, false
}

// headerSize is how much of a file (or archive entry) is sniffed: enough to
// reach the ISO-9660/UDF volume descriptors at 0x8001..0x9006.
const headerSize = 64 << 10

// copyBufSize is the read size of the hashing pass.
const copyBufSize = 1 << 20

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// recordingReaderAt remembers the first error of the underlying reader, so a
// failing disk is told apart from a corrupt archive (which blocks, no error).
type recordingReaderAt struct {
	r   io.ReaderAt
	mu  sync.Mutex
	err error
}

func (r *recordingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.r.ReadAt(p, off)
	if err != nil && err != io.EOF {
		r.mu.Lock()
		if r.err == nil {
			r.err = err
		}
		r.mu.Unlock()
	}
	return n, err
}

// baseName is the last path component, split on both separators so that a
// name judged on one OS means the same on another.
func baseName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 && i < len(name)-1 {
		return name[i+1:]
	}
	return filepath.Base(name)
}

// finding is one partial judgement; the worst one wins.
type finding struct {
	verdict Verdict
	reason  string
}

var allowed = finding{verdict: Allow}

func worse(a, b finding) finding {
	if b.verdict.severity() > a.verdict.severity() {
		return b
	}
	return a
}

func blocked(format string, args ...any) finding {
	return finding{verdict: Block, reason: fmt.Sprintf(format, args...)}
}
