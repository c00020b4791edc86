package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

const restoreUsage = `FILE --data DIR

Replaces DIR's database with a backup made by 'carrel-hub backup', into a
stopped hub. Nothing is replaced until the backup has been checked: it is a
carrel-hub database whose schema this version knows (an older one is brought
up to date, as at start), its audit chain verifies (MACs too, with DIR's
audit key), its signed heads verify with the CA in DIR and hold, and DIR has
that CA (ca.pem, ca.key: copy them from the old server first; with a new CA no
enrolled PC would trust the hub). The database it replaces is kept as
hub.db.before-restore-<time>.`

func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("restore", restoreUsage, stderr)
	// FILE may come before the flags: carrel-hub restore FILE --data DIR.
	var files []string
	for {
		if code := parse(fs, args, nil); code >= 0 {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 {
		fs.Usage()
		return 2
	}
	r, err := restore(ctx, files[0], *data)
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "restored %s into %s\n", files[0], *data)
	fmt.Fprintf(stdout, "  terminals: %d (%d revoked)\n", r.terminals, r.revoked)
	fmt.Fprintf(stdout, "  audit log: %d rows verified, %s\n", r.rows, r.macs)
	fmt.Fprintf(stdout, "  heads:     %s\n", r.heads)
	if r.keptAside != "" {
		fmt.Fprintf(stdout, "the database it replaced is kept as %s\n", r.keptAside)
	}
	fmt.Fprintln(stdout, "start the hub now (systemctl start carrel-hub, or carrel-hub start); the PCs reconnect by themselves")
	return 0
}

type restoreReport struct {
	terminals, revoked, rows int
	macs, heads              string
	keptAside                string
}

// sqliteMagic starts every SQLite database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// restore checks the backup at file against the hub data in dir and, if it
// passes, makes it dir's database.
func restore(ctx context.Context, file, dir string) (restoreReport, error) {
	var r restoreReport
	if err := hubRunning(ctx, dir); err != nil {
		return r, err
	}
	ca, err := pki.Open(dir)
	if errors.Is(err, pki.ErrNoCA) {
		return r, fmt.Errorf("no CA in %s: copy the old hub's data directory (ca.pem, ca.key, and audit.key) here first; a hub with a new CA is trusted by no enrolled PC", dir)
	}
	if err != nil {
		return r, err
	}
	if err := checkSQLite(file); err != nil {
		return r, err
	}

	// Every check runs on a copy beside the database it will replace (the
	// same file system, so the last step is a rename).
	tmp, err := copyTemp(file, dir)
	if err != nil {
		return r, err
	}
	defer removeDB(tmp)
	if err := integrityCheck(ctx, tmp); err != nil {
		return r, fmt.Errorf("%s is damaged: %w", file, err)
	}
	st, err := store.Open(tmp)
	if err != nil {
		why := strings.TrimPrefix(err.Error(), "open store "+tmp+": ")
		if errors.Is(err, store.ErrSchemaNewer) {
			return r, fmt.Errorf("%s refused: %s", file, why)
		}
		return r, fmt.Errorf("%s is not a carrel-hub database: %s", file, why)
	}
	err = verifyBackup(ctx, st, ca, filepath.Join(dir, store.AuditKeyFile), &r)
	if cerr := st.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", tmp, cerr)
	}
	if err != nil {
		return r, fmt.Errorf("%s refused: %w", file, err)
	}
	for _, side := range []string{"-wal", "-shm"} {
		if fi, err := os.Stat(tmp + side); err == nil && fi.Size() > 0 && side == "-wal" {
			return r, fmt.Errorf("restore: %s%s left behind after close", tmp, side)
		}
	}

	// Checked again just before replacing: a hub started meanwhile must not
	// have its database swapped under it.
	if err := hubRunning(ctx, dir); err != nil {
		return r, err
	}
	live := filepath.Join(dir, hub.DBFile)
	if _, err := os.Lstat(live); err == nil {
		r.keptAside = live + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		// With its WAL: a hub that was killed leaves committed rows there.
		for _, side := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(live+side, r.keptAside+side); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return r, fmt.Errorf("keep %s aside: %w", live+side, err)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return r, err
	}
	if err := os.Rename(tmp, live); err != nil {
		return r, fmt.Errorf("restore: %w", err)
	}
	// Owned like the directory: a hub run as its own user (the .deb's
	// carrel-hub) must be able to open what root restored.
	if err := ownLike(live, dir); err != nil {
		return r, fmt.Errorf("restore: %w", err)
	}
	return r, nil
}

// hubRunning refuses a data directory a hub is serving: its control socket
// answers, or hub.json names a live carrel-hub process.
func hubRunning(ctx context.Context, dir string) error {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := hub.Dial(cctx, dir); err == nil {
		return fmt.Errorf("a hub is running on %s (its control socket answers): stop it first (systemctl stop carrel-hub, or carrel-hub stop)", dir)
	}
	if p, err := hub.LoadPublished(dir); err == nil && p.PID > 0 && processIsHub(p.PID) {
		return fmt.Errorf("a hub is running on %s (process %d, named in %s): stop it first (systemctl stop carrel-hub, or carrel-hub stop)", dir, p.PID, hub.PublishFile)
	}
	return nil
}

func checkSQLite(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sqliteMagic) {
		return fmt.Errorf("%s is not a carrel-hub backup: not an SQLite database", file)
	}
	return nil
}

// copyTemp copies file to a new file in dir, 0600.
func copyTemp(file, dir string) (string, error) {
	in, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	defer in.Close()
	out, err := os.CreateTemp(dir, ".restore-*.db")
	if err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(out.Name())
		return "", fmt.Errorf("restore: copy %s: %w", file, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(out.Name())
		return "", fmt.Errorf("restore: %w", err)
	}
	if err := out.Close(); err != nil {
		os.Remove(out.Name())
		return "", fmt.Errorf("restore: %w", err)
	}
	return out.Name(), nil
}

// removeDB removes a database file and its WAL and shared-memory files.
func removeDB(path string) {
	for _, side := range []string{"", "-wal", "-shm"} {
		os.Remove(path + side)
	}
}

// integrityCheck runs SQLite's own check of every page and index.
func integrityCheck(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(problems) > 0 {
		if len(problems) > 3 {
			problems = append(problems[:3], fmt.Sprintf("and %d more", len(problems)-3))
		}
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// verifyBackup checks the backup's audit chain (with the audit key at keyFile
// if there is one) and its signed heads against ca, and counts its terminals.
func verifyBackup(ctx context.Context, st *store.Store, ca *pki.CA, keyFile string, r *restoreReport) error {
	seq, _, err := st.AuditHead(ctx)
	if err != nil {
		return err
	}
	key, kerr := store.LoadAuditKey(keyFile)
	switch {
	case kerr == nil:
		if key.From > seq+1 {
			return fmt.Errorf("the audit key %s covers rows from %d but the backup's chain ends at row %d: the backup is older than the key; put back the audit key that was in use when it was made", keyFile, key.From, seq)
		}
		st.SetAuditKey(key)
		r.macs = fmt.Sprintf("MACs checked from row %d with %s", key.From, keyFile)
	case errors.Is(kerr, fs.ErrNotExist):
		r.macs = fmt.Sprintf("MACs not checked: no audit key in %s (copy the old hub's audit.key here; the hub makes a new one at start otherwise)", filepath.Dir(keyFile))
	default:
		return kerr
	}
	heads, err := st.AuditHeads(ctx)
	if err != nil {
		return err
	}
	// The signatures first: a backup of another hub fails every later check too.
	var good []protocol.AuditHead
	for _, h := range heads {
		if err := pki.VerifyAuditHead(ca.Cert(), h); err != nil {
			return fmt.Errorf("its signed audit head (row %d) does not verify with the CA in %s: the backup is another hub's: %v", h.Seq, filepath.Dir(keyFile), err)
		}
		good = append(good, h)
	}
	if r.rows, err = st.VerifyAudit(ctx); err != nil {
		return fmt.Errorf("%w (%d rows before it verified)", err, r.rows)
	}
	if err := st.CheckAuditHeads(ctx, good); err != nil {
		return err
	}
	if len(good) == 0 {
		r.heads = "none in the backup (made before 2026-12?): not checked"
	} else {
		r.heads = fmt.Sprintf("%d signed by this hub's CA, all hold", len(good))
	}
	ts, err := st.Terminals(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		r.terminals++
		if t.Revoked() {
			r.revoked++
		}
	}
	return nil
}
