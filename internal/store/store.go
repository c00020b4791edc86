// Package store is carrel-hub's SQLite database (the pure-Go modernc.org/sqlite
// driver, WAL mode): the terminal registry, agent events, enrollment tokens,
// issued certificates, staff commands, and the hash-chained append-only audit log.
//
// All writes go through one connection (SQLite has one writer anyway; queueing in
// Go beats spinning on SQLITE_BUSY); reads use a small pool of their own. Several
// processes may open the same file (carrel-hub serve and the CLI): busy_timeout
// makes the second writer wait instead of failing.
//
// The audit chain shows any changed, removed or inserted row; each row's MAC
// under the hub's audit key (a file apart from the database) shows a row
// rewritten with its hashes recomputed; rows cut off the end, or a rewound
// copy, show against the signed heads the hub writes elsewhere
// (CheckAuditHeads).
//
// The schema is versioned (migrate.go): numbered steps of plain SQL, a version
// in the database, and a refusal to open a database a newer carrel-hub made.
//
// Usage counters (stats.go) are bumped in the transaction that stores the event
// they count, once per event however often it is sent, and kept for good;
// reports read only them. Retention (retention.go) deletes events, session
// detail and staff commands past their settings, counting each deletion; it
// never touches counts or the audit log. ExportTerminal and EraseTerminal
// (terminaldata.go) give out or delete what is kept about one PC.
//
// Staff accounts and sessions live here too (staff.go), and the patron
// session's tables (patron.go): branch rules, the day keys of the cards'
// pseudonyms, the daily ledger, the granted sessions and the guest passes'
// hashes, and the read-only API's keys (as SHA-256 hashes) and webhook
// targets (apikeys.go). Quarantine records are
// not a table of their own (2026-11): the staff API derives them from the agents'
// download.blocked and quarantine.released events, so they go with event
// retention. It is SQLite only: the PostgreSQL store for several hubs is planned,
// not built (2026-12); it is to run the same migration steps.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Errors callers test with errors.Is.
var (
	ErrNotFound     = errors.New("not found")
	ErrAmbiguous    = errors.New("name matches more than one terminal")
	ErrTokenUnknown = errors.New("enrollment token unknown")
	ErrTokenExpired = errors.New("enrollment token expired")
	ErrTokenUsedUp  = errors.New("enrollment token used up")
)

// TokenUsedError says how often a used-up token was used. It matches ErrTokenUsedUp.
type TokenUsedError struct{ Uses int }

func (e *TokenUsedError) Error() string {
	if e.Uses == 1 {
		return "enrollment token already used 1 time"
	}
	return fmt.Sprintf("enrollment token already used %d times", e.Uses)
}

func (e *TokenUsedError) Is(target error) bool { return target == ErrTokenUsedUp }

// Store is an open hub database. Safe for concurrent use.
type Store struct {
	w    *sql.DB // the one writer connection
	r    *sql.DB // readers
	path string
	now  func() time.Time

	auditKey *AuditKey // set by SetAuditKey before the first write

	insEvent       *sql.Stmt // prepared once on the writer connection
	updAcked       *sql.Stmt
	updStatus      *sql.Stmt
	insCount       *sql.Stmt // writer: bumps bumpRows usage counters of PCs (stats.go)
	insBranchCount *sql.Stmt // writer: bumps its branch's
	// A reconnect storm runs these once per agent: prepared once, since
	// parsing the SQL each time was a tenth of the hub's CPU in one.
	selConnect *sql.Stmt // writer
	updUsed    *sql.Stmt // writer
	updOnline  *sql.Stmt // writer
	updOffline *sql.Stmt // writer
	byCert     *sql.Stmt // readers

	// The WAL is checkpointed in the background (checkpointLoop), never inside
	// a commit: with synchronous(NORMAL) a WAL commit does not fsync, so the
	// writer's transactions (events, registrations, commands) never wait on the
	// disk's flush. stopCkpt ends the loop; ckptDone is closed when it has.
	stopCkpt chan struct{}
	ckptDone chan struct{}
}

// CheckpointInterval is how often the background checkpointer copies the WAL
// back into the database file. The WAL grows by at most what the writer commits
// in that time (plus what a long reader pins).
var CheckpointInterval = time.Second

// WALLimit bounds the WAL file. A PASSIVE checkpoint that races a commit leaves
// the WAL's tail un-copied, and SQLite only starts the WAL over at a write that
// finds it fully copied; under a steady stream of commits that may not happen
// for a long time. Past this size the loop takes the one writer connection in
// between two commits, right after a PASSIVE checkpoint has copied all but the
// last moment's frames, and truncates the WAL on it: writers wait only for that
// tail to be copied.
var WALLimit int64 = 64 << 20

func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	if writer {
		q.Set("_txlock", "immediate")
		// No automatic checkpoint at commit time: checkpointLoop does it on
		// a reader connection, off the commit path.
		q.Add("_pragma", "wal_autocheckpoint(0)")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Open opens (creating if needed) the database at path and brings its schema up
// to date (migrate.go); a database made by a newer carrel-hub is refused with
// ErrSchemaNewer.
func Open(path string) (*Store, error) {
	// Created 0600 here so SQLite gives its -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	f.Close()
	w, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(context.Background(), w, steps); err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	r.SetMaxOpenConns(4)
	s := &Store{w: w, r: r, path: path, now: time.Now}
	if s.insEvent, err = w.Prepare(`INSERT OR IGNORE INTO events (id, terminal, epoch, seq, time, kind, severity, data, received_at)
		SELECT ?, id, epoch, ?, ?, ?, ?, ?, ? FROM terminals WHERE id = ?`); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	if s.updAcked, err = w.Prepare(`UPDATE terminals SET acked_seq = MAX(acked_seq, ?) WHERE id = ?`); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	if s.updStatus, err = w.Prepare(`UPDATE terminals SET os = ?, os_version = ?, agent_version = ?, last_status = ?,
		last_seen = MAX(COALESCE(last_seen, 0), ?) WHERE id = ?`); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	for _, p := range []struct {
		db   *sql.DB
		st   **sql.Stmt
		text string
	}{
		{w, &s.insCount, bumpRowsSQL(bumpRows)},
		{w, &s.insBranchCount, bumpBranchSQL},
		{w, &s.selConnect, `SELECT acked_seq, locked FROM terminals WHERE id = ?`},
		{w, &s.updUsed, `UPDATE certs SET used_at = ? WHERE serial = ? AND used_at IS NULL`},
		{w, &s.updOnline, `UPDATE terminals SET online = 1, last_seen = ? WHERE id = ?`},
		{w, &s.updOffline, `UPDATE terminals SET online = 0, last_seen = ? WHERE id = ?`},
		{r, &s.byCert, `SELECT ` + terminalCols + `, c.revoked FROM certs c JOIN terminals t ON t.id = c.terminal WHERE c.serial = ?`},
	} {
		if *p.st, err = p.db.Prepare(p.text); err != nil {
			s.Close()
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	s.stopCkpt, s.ckptDone = make(chan struct{}), make(chan struct{})
	go s.checkpointLoop(CheckpointInterval, WALLimit)
	return s, nil
}

// checkpointLoop runs a PASSIVE checkpoint every interval: it copies committed
// WAL frames into the database and fsyncs, without taking the write lock and
// without waiting for readers. Errors are transient (a busy database) and the
// next tick retries; closing the database runs a last one.
func (s *Store) checkpointLoop(every time.Duration, walLimit int64) {
	defer close(s.ckptDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stopCkpt:
			return
		case <-t.C:
			s.Checkpoint(context.Background())
			if fi, err := os.Stat(s.path + "-wal"); err == nil && fi.Size() > walLimit {
				s.truncateWAL(context.Background())
			}
		}
	}
}

// truncateWAL holds the writer connection (so no commit can race it) while a
// TRUNCATE checkpoint copies what is left and empties the WAL. A reader still
// on an older snapshot makes a TRUNCATE checkpoint wait in the busy handler,
// holding the writer all that while (with the usual 10 s timeout, every write
// of a hub under a reconnect storm's lookups waited up to 10 s): it waits
// TruncateWait at most, gives up, and the next tick tries again. It reports
// whether the WAL was emptied.
func (s *Store) truncateWAL(ctx context.Context) (bool, error) {
	c, err := s.w.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", TruncateWait.Milliseconds())); err != nil {
		return false, err
	}
	defer c.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeout.Milliseconds()))
	var busy, frames, done int
	if err := c.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &done); err != nil {
		return false, err
	}
	return busy == 0, nil
}

// TruncateWait bounds how long truncating the WAL holds the writer waiting for
// readers.
var TruncateWait = 100 * time.Millisecond

// busyTimeout is how long a statement waits for a lock another connection or
// process holds.
const busyTimeout = 10 * time.Second

// Checkpoint copies the committed WAL into the database file now (PASSIVE: it
// never blocks the writer). It reports how many WAL frames there are and how
// many of them are in the database file after it.
func (s *Store) Checkpoint(ctx context.Context) (walFrames, checkpointed int, err error) {
	var busy int
	err = s.r.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &walFrames, &checkpointed)
	return walFrames, checkpointed, err
}

// Close closes the database.
func (s *Store) Close() error {
	if s.stopCkpt != nil {
		close(s.stopCkpt)
		<-s.ckptDone // closing the last connection checkpoints the WAL itself
	}
	for _, st := range []*sql.Stmt{s.insEvent, s.updAcked, s.updStatus, s.insCount, s.insBranchCount, s.selConnect, s.updUsed, s.updOnline, s.updOffline, s.byCert} {
		if st != nil {
			st.Close()
		}
	}
	return errors.Join(s.r.Close(), s.w.Close())
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Backup writes a consistent copy of the live database to path (VACUUM INTO), which
// must not exist yet; the copy is made 0600. Writers continue meanwhile.
func (s *Store) Backup(ctx context.Context, path string) error {
	if _, err := s.r.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	return nil
}

// tx runs fn in one write transaction (BEGIN IMMEDIATE) on the writer connection.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64)
}
