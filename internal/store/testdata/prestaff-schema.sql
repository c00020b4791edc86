-- The schema a carrel-hub made before events had hub-wide IDs and staff existed
-- (before 2026-11), for TestEventIDMigration.
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
	PRIMARY KEY (terminal, epoch, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_received ON events(received_at);

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
