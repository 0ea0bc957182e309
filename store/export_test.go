package store

import "github.com/acme/billing"

// Internals the external tests use.
var (
	Classify   = classify
	SQLitePath = sqlitePath
)

// TxExec runs a statement in a transaction InTx started.
func TxExec(btx billing.Tx, query string, args ...any) error {
	_, err := btx.(*tx).tx.Exec(query, args...)
	return err
}
