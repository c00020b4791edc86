//go:build linux

package downloads

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func newQuarantine(t *testing.T) *Quarantine {
	t.Helper()
	q, err := OpenQuarantine(filepath.Join(t.TempDir(), "q"))
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// quarantineFile holds path and puts it into q, as the guard does.
func quarantineFile(t *testing.T, q *Quarantine, path string) (Record, error) {
	t.Helper()
	h, err := holdFile(path)
	if err != nil {
		return Record{}, err
	}
	defer h.Close()
	content, err := os.ReadFile(h.judgePath())
	if err != nil {
		t.Fatal(err)
	}
	return q.put(h, sha(content), "test block", "pe", time.Now())
}

func TestOpenQuarantineModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	if _, err := OpenQuarantine(dir); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "blobs"), filepath.Join(dir, "records")} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s has mode %v, want 0700", d, fi.Mode().Perm())
		}
	}
	weak := filepath.Join(t.TempDir(), "weak")
	if err := os.Mkdir(weak, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(weak, 0o755)
	if _, err := OpenQuarantine(weak); !errors.Is(err, errWeakDir) {
		t.Errorf("OpenQuarantine of a 0755 directory: %v, want errWeakDir", err)
	}
	foreign := filepath.Join(t.TempDir(), "foreign")
	if err := os.Mkdir(foreign, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(foreign, 4242, 4242); err != nil {
		t.Skipf("chown needs root: %v", err)
	}
	if _, err := OpenQuarantine(foreign); !errors.Is(err, errWeakDir) {
		t.Errorf("OpenQuarantine of a directory owned by someone else: %v, want errWeakDir", err)
	}
}

func TestQuarantinePutAndReleaseSameFS(t *testing.T) {
	testPutRelease(t, t.TempDir())
}

func TestQuarantinePutAndReleaseCrossFS(t *testing.T) {
	// /dev/shm is tmpfs, the test's quarantine lives on the work disk: a copy.
	dir, err := os.MkdirTemp("/dev/shm", "carrel-test-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	testPutRelease(t, dir)
}

func testPutRelease(t *testing.T, home string) {
	q := newQuarantine(t)
	content := bytes.Repeat([]byte("MZ\x90\x00evil"), 100000)
	p := filepath.Join(home, "setup.exe")
	if err := os.WriteFile(p, content, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 1234, 2345); err != nil {
		t.Fatal(err)
	}
	rec, err := quarantineFile(t, q, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("original still there after quarantine: %v", err)
	}
	want := Record{ID: rec.ID, SHA256: sha(content), Size: int64(len(content)), OriginalPath: p,
		UID: 1234, GID: 2345, Mode: 0o640, Reason: "test block", Kind: "pe", Time: rec.Time}
	if rec != want {
		t.Fatalf("record\n got %+v\nwant %+v", rec, want)
	}
	got, err := q.Get(rec.ID)
	if err != nil || got != rec {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	blob, err := os.ReadFile(q.blobPath(rec.SHA256))
	if err != nil || !bytes.Equal(blob, content) {
		t.Fatalf("blob content differs (err %v)", err)
	}
	fi, _ := os.Stat(q.blobPath(rec.SHA256))
	if fi.Mode().Perm() != 0o600 || int(fi.Sys().(*syscall.Stat_t).Uid) != os.Geteuid() {
		t.Errorf("blob mode %v owner %d, want 0600 owned by the service", fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid)
	}
	list, err := q.List()
	if err != nil || len(list) != 1 || list[0] != rec {
		t.Fatalf("List = %+v, %v", list, err)
	}

	sink := &eventrec.Recorder{}
	out, err := q.ReleaseHandler(sink)(context.Background(), map[string]string{"id": rec.ID})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out)
	back, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(back, content) {
		t.Fatalf("released content differs (err %v)", err)
	}
	fi, err = os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode() != 0o640 || st.Uid != 1234 || st.Gid != 2345 {
		t.Errorf("released file mode %v owner %d:%d, want -rw-r----- 1234:2345", fi.Mode(), st.Uid, st.Gid)
	}
	if _, err := q.Get(rec.ID); !errors.Is(err, ErrNoRecord) {
		t.Errorf("record still there after release: %v", err)
	}
	if _, err := os.Lstat(q.blobPath(rec.SHA256)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("blob still there after release: %v", err)
	}
	evs := sink.All()
	if len(evs) != 1 || evs[0].Kind != "quarantine.released" || evs[0].Sev != protocol.SeverityInfo ||
		evs[0].Data["id"] != rec.ID || evs[0].Data["name"] != "setup.exe" || evs[0].Data["sha256"] != rec.SHA256 {
		t.Errorf("events = %+v", evs)
	}
}

func TestReleaseRefusesOverwrite(t *testing.T) {
	q := newQuarantine(t)
	home := t.TempDir()
	p := filepath.Join(home, "setup.exe")
	os.WriteFile(p, []byte("MZ blocked"), 0o644)
	rec, err := quarantineFile(t, q, p)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, []byte("patron's new file"), 0o644)
	if _, err := q.Release(rec.ID); !errors.Is(err, os.ErrExist) {
		t.Fatalf("Release over an existing file: %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "patron's new file" {
		t.Errorf("existing file changed to %q", b)
	}
	if _, err := q.Get(rec.ID); err != nil {
		t.Errorf("record lost after a refused release: %v", err)
	}
	// A symlink at the original path is "something there" as well, and is not followed.
	os.Remove(p)
	canary := filepath.Join(t.TempDir(), "canary")
	os.WriteFile(canary, []byte("canary"), 0o644)
	os.Symlink(canary, p)
	if _, err := q.Release(rec.ID); !errors.Is(err, os.ErrExist) {
		t.Fatalf("Release onto a symlink: %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(canary); string(b) != "canary" {
		t.Errorf("canary changed to %q", b)
	}
}

func TestReleaseNeverFollowsSymlinkedParent(t *testing.T) {
	q := newQuarantine(t)
	home := t.TempDir()
	dl := filepath.Join(home, "Downloads")
	os.Mkdir(dl, 0o755)
	p := filepath.Join(dl, "setup.exe")
	os.WriteFile(p, []byte("MZ blocked"), 0o644)
	rec, err := quarantineFile(t, q, p)
	if err != nil {
		t.Fatal(err)
	}
	// The patron swaps Downloads for a link to a directory the service must not write.
	outside := t.TempDir()
	os.Remove(dl)
	os.Symlink(outside, dl)
	if _, err := q.Release(rec.ID); err == nil {
		t.Fatal("Release through a symlinked directory succeeded")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("release wrote through the symlink: %v", ents)
	}
}

func TestHoldRefusesSymlinkAndSpecialFiles(t *testing.T) {
	home := t.TempDir()
	canary := filepath.Join(t.TempDir(), "canary.exe")
	os.WriteFile(canary, []byte("MZ canary"), 0o755)
	link := filepath.Join(home, "setup.exe")
	os.Symlink(canary, link)
	if _, err := holdFile(link); !errors.Is(err, errNotRegular) {
		t.Errorf("holdFile(symlink) = %v, want errNotRegular", err)
	}
	fifo := filepath.Join(home, "pipe.exe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := holdFile(fifo); !errors.Is(err, errNotRegular) {
		t.Errorf("holdFile(fifo) = %v, want errNotRegular", err)
	}
	// A symlinked parent directory is refused too.
	sub := filepath.Join(home, "sub")
	os.Symlink(filepath.Dir(canary), sub)
	if _, err := holdFile(filepath.Join(sub, "canary.exe")); err == nil {
		t.Error("holdFile through a symlinked directory succeeded")
	}
	if b, _ := os.ReadFile(canary); string(b) != "MZ canary" {
		t.Errorf("canary changed: %q", b)
	}
	if fi, _ := os.Lstat(canary); fi.Mode().Perm() != 0o755 {
		t.Errorf("canary mode changed: %v", fi.Mode())
	}
}

func TestPutRefusesReplacedFile(t *testing.T) {
	q := newQuarantine(t)
	home := t.TempDir()
	p := filepath.Join(home, "setup.exe")
	os.WriteFile(p, []byte("MZ judged"), 0o644)
	h, err := holdFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// Between judgement and move the patron replaces the file with another one.
	other := filepath.Join(home, "other")
	os.WriteFile(other, []byte("innocent"), 0o644)
	if err := os.Rename(other, p); err != nil {
		t.Fatal(err)
	}
	if _, err := q.put(h, sha([]byte("MZ judged")), "r", "", time.Now()); !errors.Is(err, errChanged) {
		t.Fatalf("put of a replaced file: %v, want errChanged", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "innocent" {
		t.Errorf("the replacing file was not put back: %q", b)
	}
	if recs, _ := q.List(); len(recs) != 0 {
		t.Errorf("records written: %+v", recs)
	}
}

func TestQuarantineSharedBlob(t *testing.T) {
	q := newQuarantine(t)
	home := t.TempDir()
	a, b := filepath.Join(home, "a.exe"), filepath.Join(home, "b.exe")
	os.WriteFile(a, []byte("MZ same"), 0o644)
	os.WriteFile(b, []byte("MZ same"), 0o600)
	ra, err := quarantineFile(t, q, a)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := quarantineFile(t, q, b)
	if err != nil {
		t.Fatal(err)
	}
	if ra.SHA256 != rb.SHA256 || ra.ID == rb.ID {
		t.Fatalf("records %+v %+v", ra, rb)
	}
	if _, err := q.Release(ra.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(q.blobPath(rb.SHA256)); err != nil {
		t.Fatalf("shared blob removed while still referenced: %v", err)
	}
	if _, err := q.Release(rb.ID); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(b); fi.Mode().Perm() != 0o600 {
		t.Errorf("b released with mode %v, want 0600", fi.Mode())
	}
	if _, err := os.Stat(q.blobPath(rb.SHA256)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("blob kept after its last release: %v", err)
	}
}

func TestReleaseHandlerRefusesBadIDs(t *testing.T) {
	q := newQuarantine(t)
	h := q.ReleaseHandler(&eventrec.Recorder{})
	for _, id := range []string{"", "../../etc/passwd", "0123456789abcdef0123456789abcdef"} {
		if _, err := h(context.Background(), map[string]string{"id": id}); err == nil {
			t.Errorf("release of %q succeeded", id)
		}
	}
}

// A record that would be invalid (here: no hash) is refused before the file
// moves: the patron's file stays where it was.
func TestPutRefusesBeforeMoving(t *testing.T) {
	q := newQuarantine(t)
	p := filepath.Join(t.TempDir(), "setup.exe")
	os.WriteFile(p, []byte("MZ"), 0o644)
	h, err := holdFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := q.put(h, "", "r", "", time.Now()); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("put without a hash: %v, want ErrBadRecord", err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "MZ" {
		t.Errorf("file moved or changed: %q %v", b, err)
	}
}
