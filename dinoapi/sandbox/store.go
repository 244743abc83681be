// Package sandbox is the Dino sandbox: a stateful local implementation of the /v1 agent-spend
// API with the same governance as production — spend accounts with budgets per UTC calendar
// period, maximum transaction sizes and approval thresholds, hashed spending keys, idempotency,
// rate limits — over an append-only ledger in an embedded SQLite database, plus the operators'
// admin API and dashboard.
package sandbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite: no cgo, so go install works anywhere
)

// MemoryDB is the database path that keeps everything in memory, for tests.
const MemoryDB = ":memory:"

// DefaultDBPath is the per-user database file: <user config dir>/dino-sandbox/sandbox.db
// (~/.config on Linux, ~/Library/Application Support on macOS, %AppData% on Windows).
func DefaultDBPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "dino-sandbox", "sandbox.db")
}

// migrations are applied in order, each once, recorded in schema_migrations. Append only.
var migrations = []string{
	`CREATE TABLE teams (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		currency TEXT NOT NULL,
		plan_monthly_volume_cents INTEGER NOT NULL CHECK (plan_monthly_volume_cents >= 0),
		created_at TEXT NOT NULL
	);
	CREATE TABLE accounts (
		id TEXT PRIMARY KEY,
		team_id TEXT NOT NULL REFERENCES teams(id),
		name TEXT NOT NULL UNIQUE,
		currency TEXT NOT NULL,
		budget_cents INTEGER NOT NULL CHECK (budget_cents >= 0),
		budget_period TEXT NOT NULL CHECK (budget_period IN ('daily','weekly','monthly','yearly')),
		max_transaction_cents INTEGER NOT NULL CHECK (max_transaction_cents >= 1),
		approval_threshold_cents INTEGER CHECK (approval_threshold_cents IS NULL OR approval_threshold_cents >= 1),
		created_at TEXT NOT NULL,
		updated_at TEXT NOT NULL
	);
	CREATE TABLE spending_keys (
		id TEXT PRIMARY KEY,
		account_id TEXT NOT NULL REFERENCES accounts(id),
		hash TEXT NOT NULL UNIQUE,
		prefix TEXT NOT NULL,
		created_at TEXT NOT NULL,
		revoked_at TEXT
	);
	CREATE TABLE spend_requests (
		id TEXT PRIMARY KEY,
		account_id TEXT NOT NULL REFERENCES accounts(id),
		key_id TEXT NOT NULL REFERENCES spending_keys(id),
		amount_cents INTEGER NOT NULL CHECK (amount_cents >= 1),
		currency TEXT NOT NULL,
		merchant_name TEXT NOT NULL,
		reason TEXT NOT NULL,
		status TEXT NOT NULL CHECK (status IN ('approved','needs_approval','declined')),
		decision_reason TEXT NOT NULL,
		created_at TEXT NOT NULL,
		decided_at TEXT,
		decided_by TEXT,
		expires_at TEXT
	);
	CREATE INDEX spend_requests_status ON spend_requests(status, created_at);
	CREATE TRIGGER spend_requests_transitions BEFORE UPDATE ON spend_requests
	WHEN OLD.status <> 'needs_approval' OR NEW.status NOT IN ('approved','declined')
		OR NEW.amount_cents <> OLD.amount_cents OR NEW.account_id <> OLD.account_id OR NEW.id <> OLD.id
	BEGIN SELECT RAISE(ABORT, 'a spend request only moves from needs_approval to approved or declined'); END;
	CREATE TRIGGER spend_requests_no_delete BEFORE DELETE ON spend_requests BEGIN SELECT RAISE(ABORT, 'spend requests are never deleted'); END;
	CREATE INDEX spend_requests_account ON spend_requests(account_id, created_at);
	CREATE TABLE idempotency (
		key_id TEXT NOT NULL,
		idem_key TEXT NOT NULL,
		request_hash TEXT NOT NULL,
		spend_id TEXT NOT NULL,
		status_code INTEGER NOT NULL,
		body BLOB NOT NULL,
		created_at TEXT NOT NULL,
		PRIMARY KEY (key_id, idem_key)
	);
	CREATE TABLE ledger (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		at TEXT NOT NULL,
		team_id TEXT NOT NULL,
		account_id TEXT,
		spend_request_id TEXT,
		kind TEXT NOT NULL,
		actor TEXT NOT NULL,
		status TEXT,
		amount_cents INTEGER NOT NULL DEFAULT 0,
		debit_cents INTEGER NOT NULL DEFAULT 0 CHECK (debit_cents >= 0),
		credit_cents INTEGER NOT NULL DEFAULT 0 CHECK (credit_cents >= 0),
		remaining_before_cents INTEGER,
		remaining_after_cents INTEGER,
		wallet_before_cents INTEGER,
		wallet_after_cents INTEGER,
		detail TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX ledger_account_at ON ledger(account_id, at, debit_cents);
	CREATE INDEX ledger_team_at ON ledger(team_id, at, debit_cents, credit_cents);
	CREATE INDEX ledger_spend ON ledger(spend_request_id);
	CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
	CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;`,
}

// Store is the sandbox's database. Every write that decides or moves money is one IMMEDIATE
// transaction, so decisions are serialised and a committed decision survives a crash.
type Store struct {
	db   *sql.DB
	path string
}

// OpenStore opens (creating if needed) the database at path and applies migrations. The file
// runs in WAL mode with synchronous=FULL: a decision acknowledged to a client is on disk.
func OpenStore(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		path = DefaultDBPath()
	}
	params := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "foreign_keys(1)", "synchronous(FULL)"} {
		params.Add("_pragma", p)
	}
	params.Set("_txlock", "immediate")
	var dsn string
	if path == MemoryDB {
		dsn = "file::memory:?" + params.Encode()
	} else {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("sandbox: create the database directory: %w", err)
		}
		params.Add("_pragma", "journal_mode(WAL)")
		dsn = "file:" + path + "?" + params.Encode()
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sandbox: open %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and one connection makes every transaction
	// strictly serial inside this process (and keeps a :memory: database a single database).
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	s := &Store{db: db, path: path}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Path is the database file (or MemoryDB).
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("sandbox: migrations table: %w", err)
	}
	var have int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("sandbox: read schema version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("sandbox: database %s has schema version %d, newer than this binary's %d; upgrade dino-sandbox", s.path, have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, formatTime(time.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("sandbox: migration %d: %w", v, err)
		}
	}
	return nil
}

// tx runs fn in one IMMEDIATE transaction: committed if fn returns nil, rolled back otherwise.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sandbox: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sandbox: commit: %w", err)
	}
	return nil
}

// timeLayout has a fixed width, so stored times sort as text in time order.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) time.Time {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// apiTime is how times appear in API bodies: RFC 3339 in UTC, second precision.
func apiTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID returns prefix_ followed by n uniformly random base62 characters.
func newID(prefix string, n int) string {
	var sb strings.Builder
	sb.WriteString(prefix)
	sb.WriteByte('_')
	buf := make([]byte, 2*n)
	for sb.Len() < len(prefix)+1+n {
		if _, err := rand.Read(buf); err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		for _, c := range buf {
			// Reject the top of the byte range so every character is equally likely.
			if int(c) < 4*len(idAlphabet) && sb.Len() < len(prefix)+1+n {
				sb.WriteByte(idAlphabet[int(c)%len(idAlphabet)])
			}
		}
	}
	return sb.String()
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, q querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func scanString(r scanner) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
}

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")
