package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Schema migrations. The database records its schema version in the
// schema_version table; Open runs, in one transaction, every step past it. A step
// is plain SQL text, frozen once released: a change to the schema is a new step
// at the end, never an edit of an old one (the kinds in step 1's partial index are
// literals for that reason). The PostgreSQL store planned for several hubs
// (2026-12: not built) is to run the same numbered steps; SQLite-only clauses in
// them (WITHOUT ROWID, the RAISE triggers) will need a dialect's own text then.

// ErrSchemaNewer says the database was made or migrated by a newer carrel-hub
// than this one.
var ErrSchemaNewer = errors.New("database schema is newer than this carrel-hub")

// steps[i] brings a database from schema version i to i+1.
var steps = []string{
	// 1: the schema as the 2026-11 release left it (terminals, events with their
	// hub-wide IDs, tokens, certificates, commands, the audit chain, staff and
	// their sessions). Every statement is IF NOT EXISTS / OR IGNORE, so the same
	// step adopts a database that release made, which has no schema_version.
	`
CREATE TABLE IF NOT EXISTS terminals (
	id             TEXT PRIMARY KEY,
	name           TEXT NOT NULL,
	os             TEXT NOT NULL DEFAULT '',
	os_version     TEXT NOT NULL DEFAULT '',
	agent_version  TEXT NOT NULL DEFAULT '',
	cert_serial    TEXT NOT NULL,
	cert_not_after INTEGER NOT NULL,
	enrolled_at    INTEGER NOT NULL,
	revoked_at     INTEGER,
	last_seen      INTEGER,
	online         INTEGER NOT NULL DEFAULT 0,
	last_status    TEXT,
	acked_seq      INTEGER NOT NULL DEFAULT 0,
	epoch          INTEGER NOT NULL DEFAULT 0,
	locked         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS terminals_name ON terminals(name);

CREATE TABLE IF NOT EXISTS events (
	terminal    TEXT NOT NULL REFERENCES terminals(id),
	epoch       INTEGER NOT NULL,
	seq         INTEGER NOT NULL,
	time        INTEGER NOT NULL,
	kind        TEXT NOT NULL,
	severity    TEXT NOT NULL,
	data        TEXT NOT NULL,
	received_at INTEGER NOT NULL,
	id          INTEGER,
	PRIMARY KEY (terminal, epoch, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_received ON events(received_at);
CREATE UNIQUE INDEX IF NOT EXISTS events_id ON events(id);
CREATE INDEX IF NOT EXISTS events_quarantine ON events(id) WHERE kind IN ('download.blocked', 'quarantine.released');

CREATE TABLE IF NOT EXISTS event_counter (
	one  INTEGER PRIMARY KEY CHECK (one = 1),
	last INTEGER NOT NULL
);
INSERT OR IGNORE INTO event_counter (one, last) SELECT 1, COALESCE(MAX(id), 0) FROM events;

CREATE TABLE IF NOT EXISTS tokens (
	hash       BLOB PRIMARY KEY,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	uses_left  INTEGER NOT NULL,
	uses       INTEGER NOT NULL DEFAULT 0,
	created_by TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS certs (
	serial    TEXT PRIMARY KEY,
	terminal  TEXT NOT NULL REFERENCES terminals(id),
	issued_at INTEGER NOT NULL,
	not_after INTEGER NOT NULL,
	revoked   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS certs_terminal ON certs(terminal);

CREATE TABLE IF NOT EXISTS commands (
	id          TEXT PRIMARY KEY,
	terminal    TEXT NOT NULL,
	action      TEXT NOT NULL,
	args        TEXT NOT NULL,
	issued_by   TEXT NOT NULL,
	issued_at   INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	result      TEXT,
	ok          INTEGER,
	answered_at INTEGER
);

CREATE TABLE IF NOT EXISTS audit (
	seq    INTEGER PRIMARY KEY,
	time   INTEGER NOT NULL,
	actor  TEXT NOT NULL,
	action TEXT NOT NULL,
	target TEXT NOT NULL,
	detail TEXT NOT NULL,
	prev   BLOB NOT NULL,
	hash   BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;

CREATE TABLE IF NOT EXISTS staff (
	user         TEXT PRIMARY KEY COLLATE NOCASE,
	role         TEXT NOT NULL,
	password     TEXT NOT NULL,
	totp_secret  TEXT NOT NULL,
	last_step    INTEGER NOT NULL DEFAULT 0,
	failures     INTEGER NOT NULL DEFAULT 0,
	locked_until INTEGER NOT NULL DEFAULT 0,
	disabled     INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	last_login   INTEGER
);

CREATE TABLE IF NOT EXISTS staff_sessions (
	hash       BLOB PRIMARY KEY,
	user       TEXT NOT NULL COLLATE NOCASE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	last_used  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS staff_sessions_user ON staff_sessions(user);
`,
	// 2: audit rows carry a MAC keyed with the hub's audit key, kept outside
	// the database (AuditKey); a backup carries signed heads of the chain.
	`
ALTER TABLE audit ADD COLUMN mac BLOB;
CREATE TABLE audit_heads (
	seq  INTEGER NOT NULL,
	hash BLOB NOT NULL,
	time INTEGER NOT NULL,
	sig  BLOB NOT NULL
);
`,
	// 3: when each certificate first held the link, so that a certificate is
	// renewed once, not on every connection (a renewal whose answer was lost
	// may be asked again until the new certificate is used).
	`
ALTER TABLE certs ADD COLUMN used_at INTEGER;
`,
	// 4: branches. A branch is a named group of PCs (a library's site, or a
	// room): a terminal is in one, '' for none, and an enrollment token may name
	// the branch its PCs land in. Time rules, reports and API keys attach to it.
	`
ALTER TABLE terminals ADD COLUMN branch TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN branch TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS terminals_branch ON terminals(branch);
`,
	// 5: staff accounts whose password the library's directory checks (LDAP,
	// Active Directory): no local password, the role from their groups.
	`
ALTER TABLE staff ADD COLUMN directory INTEGER NOT NULL DEFAULT 0;
`,
	// 6: usage counters (stats.go): a count per metric, label, branch, PC and
	// UTC hour (ms of the hour's start), bumped in the transaction that stores
	// the event they count and kept for good; terminal is '' for what the hub
	// counts itself and for the counts of an erased PC. counts_branch holds
	// the same counts without the PC, bumped with them: reports read it (a
	// year of a fleet's counts per PC is millions of rows; per branch, tens
	// of thousands).
	`
CREATE TABLE counts (
	hour     INTEGER NOT NULL,
	metric   TEXT NOT NULL,
	label    TEXT NOT NULL DEFAULT '',
	branch   TEXT NOT NULL DEFAULT '',
	terminal TEXT NOT NULL DEFAULT '',
	n        INTEGER NOT NULL,
	PRIMARY KEY (hour, metric, branch, terminal, label)
) WITHOUT ROWID;
CREATE INDEX counts_terminal ON counts(terminal) WHERE terminal != '';
CREATE TABLE counts_branch (
	hour   INTEGER NOT NULL,
	metric TEXT NOT NULL,
	label  TEXT NOT NULL DEFAULT '',
	branch TEXT NOT NULL DEFAULT '',
	n      INTEGER NOT NULL,
	PRIMARY KEY (hour, metric, branch, label)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS commands_issued ON commands(issued_at);
`,
	// 7: patron sessions (internal/patron). Time rules per branch (JSON of
	// protocol.Rules, branch '' the defaults); one random key per day for the
	// cards' pseudonyms, deleted after the day with that day's ledger; the
	// ledger of seconds used per pseudonym and day; the sessions granted, which
	// hold the signed grant so that a hub restart keeps them; guest passes,
	// stored as SHA-256 of their code.
	`
CREATE TABLE patron_rules (
	branch     TEXT PRIMARY KEY,
	rules      TEXT NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE TABLE patron_day_keys (
	day TEXT PRIMARY KEY,
	key BLOB NOT NULL
);
CREATE TABLE patron_ledger (
	day    TEXT NOT NULL,
	patron BLOB NOT NULL,
	used   INTEGER NOT NULL,
	PRIMARY KEY (day, patron)
) WITHOUT ROWID;
CREATE TABLE patron_sessions (
	id       TEXT PRIMARY KEY,
	terminal TEXT NOT NULL,
	kind     TEXT NOT NULL,
	ledger   BLOB,
	day      TEXT NOT NULL,
	issued   INTEGER NOT NULL,
	ends     INTEGER NOT NULL,
	grant_json TEXT NOT NULL,
	ended    INTEGER,
	used     INTEGER
);
CREATE INDEX patron_sessions_running ON patron_sessions(terminal) WHERE ended IS NULL;
CREATE INDEX patron_sessions_ledger ON patron_sessions(ledger) WHERE ended IS NULL;
CREATE TABLE guest_passes (
	hash       BLOB PRIMARY KEY,
	batch      TEXT NOT NULL,
	branch     TEXT NOT NULL,
	minutes    INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER,
	session    TEXT
) WITHOUT ROWID;
CREATE INDEX guest_passes_expires ON guest_passes(expires_at);
`,
	// 8: the read-only API (internal/api): keys stored as SHA-256 hashes of
	// their 256-bit secret (shown once), revocable; webhook targets with the
	// secret their POSTs are signed with, and their delivered and
	// dead-lettered counts.
	`
CREATE TABLE api_keys (
	id         TEXT PRIMARY KEY,
	hash       BLOB NOT NULL UNIQUE,
	name       TEXT NOT NULL,
	branch     TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	created_by TEXT NOT NULL,
	revoked_at INTEGER,
	last_used  INTEGER
);
CREATE TABLE webhooks (
	id         TEXT PRIMARY KEY,
	url        TEXT NOT NULL,
	secret     BLOB NOT NULL,
	branch     TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	created_by TEXT NOT NULL,
	deleted_at INTEGER,
	delivered  INTEGER NOT NULL DEFAULT 0,
	dead       INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT ''
);
`,
	// 9: maintenance windows (protocol/maintenance.go): one-off windows for
	// a PC, a branch or every PC, with who opened and ended them; recurring
	// windows per branch (weekday, HH:MM in the hub's local time, minutes).
	`
CREATE TABLE maintenance_windows (
	id         INTEGER PRIMARY KEY,
	scope      TEXT NOT NULL,
	target     TEXT NOT NULL DEFAULT '',
	start_at   INTEGER NOT NULL,
	end_at     INTEGER NOT NULL,
	reason     TEXT NOT NULL DEFAULT '',
	created_by TEXT NOT NULL,
	ended_at   INTEGER,
	ended_by   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX maintenance_windows_open ON maintenance_windows (end_at) WHERE ended_at IS NULL;
CREATE TABLE maintenance_schedules (
	branch     TEXT NOT NULL,
	weekday    INTEGER NOT NULL,
	start      TEXT NOT NULL,
	minutes    INTEGER NOT NULL,
	created_by TEXT NOT NULL,
	PRIMARY KEY (branch, weekday, start)
);
`,
}

// SchemaVersion is the schema version this build brings databases to.
func SchemaVersion() int { return len(steps) }

// migrate brings the database on w to len(steps) in one write transaction, or
// refuses a database newer than that with ErrSchemaNewer.
func migrate(ctx context.Context, w *sql.DB, steps []string) error {
	tx, err := w.BeginTx(ctx, nil) // BEGIN IMMEDIATE on the writer: one migrator at a time
	if err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	version, stamped := 0, true
	switch err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version); {
	case errors.Is(err, sql.ErrNoRows):
		stamped = false
	case err != nil:
		return fmt.Errorf("migrate schema: read version: %w", err)
	}
	if version > len(steps) {
		return fmt.Errorf("%w: the database is at version %d, this carrel-hub knows up to %d; run a newer carrel-hub, or restore a backup made by this one", ErrSchemaNewer, version, len(steps))
	}
	if !stamped {
		if err := numberLegacyEvents(ctx, tx); err != nil {
			return err
		}
	}
	for v := version; v < len(steps); v++ {
		if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
		}
	}
	if version == len(steps) && stamped {
		return nil
	}
	q := `UPDATE schema_version SET version = ?`
	if !stamped {
		q = `INSERT INTO schema_version (version) VALUES (?)`
	}
	if _, err := tx.ExecContext(ctx, q, len(steps)); err != nil {
		return fmt.Errorf("migrate schema: write version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	return nil
}

// numberLegacyEvents gives the events of a database made before events had
// hub-wide IDs (a release before 2026-11) their ID column, numbered by arrival,
// so that step 1 can adopt it.
func numberLegacyEvents(ctx context.Context, tx *sql.Tx) error {
	var tables, hasID int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'events'`).Scan(&tables); err != nil {
		return fmt.Errorf("migrate event ids: %w", err)
	}
	if tables == 0 {
		return nil // a new database
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('events') WHERE name = 'id'`).Scan(&hasID); err != nil {
		return fmt.Errorf("migrate event ids: %w", err)
	}
	if hasID > 0 {
		return nil
	}
	for _, q := range []string{
		`ALTER TABLE events ADD COLUMN id INTEGER`,
		`UPDATE events SET id = r.n FROM (SELECT terminal, epoch, seq,
			row_number() OVER (ORDER BY received_at, terminal, epoch, seq) AS n FROM events) r
			WHERE events.terminal = r.terminal AND events.epoch = r.epoch AND events.seq = r.seq`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("migrate event ids: %w", err)
		}
	}
	return nil
}
