package store

import (
	"context"
	"io/fs"

	"github.com/acme/billing"
)

// PostgresMigrations is how many migrations PostgreSQL has.
func PostgresMigrations() int {
	files, _ := fs.Glob(migrations, "migrations/postgres/*.sql")
	return len(files)
}

// Internals the external tests use.
var (
	Classify   = classify
	SQLitePath = sqlitePath
)

// TxExec runs a statement in a transaction InTx started.
func TxExec(btx billing.Tx, query string, args ...any) error {
	_, err := btx.(*tx).exec(context.Background(), query, args...)
	return err
}

// MigrateUpTo migrates the database up to a version, as an older release
// left it.
func MigrateUpTo(ctx context.Context, db *DB, version int64) error {
	p, err := db.migrations(ctx)
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}
