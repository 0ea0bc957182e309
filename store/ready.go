package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/acme/billing"
)

// MinFreeSpace is the room a SQLite database must have to be ready: a few
// group commits' worth of WAL (64 events of some kilobytes each, and their
// rows), so that an instance stops taking traffic before its writes fail.
const MinFreeSpace = 4 << 20

// ErrNotWritable wraps why the database takes no writes: Ready's error.
var ErrNotWritable = billing.Errorf(billing.EUNAVAILABLE, "database not writable")

// Ready reports whether the database takes writes now, not only reads: it
// commits a one-row write, and on SQLite checks that the file has room to
// grow. A read-only SQLite connection (one SQLite opened read-only because
// a file was not writable then) is replaced after a failed probe, so that
// readiness comes back by itself once the files are repaired.
func (db *DB) Ready(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return classify(err)
	}
	err := db.probe(ctx)
	if err == nil && !db.Postgres() {
		err = db.checkRoom(ctx)
	}
	switch {
	case err == nil:
		return nil
	case db.Postgres() && unavailable(err):
		return classify(err) // gone since the ping: unavailable, not refusing
	case isReadOnly(err):
		db.resetWriter()
		err = nameUnwritable(db.name, err)
	}
	return fmt.Errorf("%w: %w", ErrNotWritable, err)
}

// nameUnwritable adds to a read-only refusal which file is to blame.
func nameUnwritable(path string, err error) error {
	if bad := unwritableFile(path); bad != "" {
		return fmt.Errorf("%s: %w", bad, err)
	}
	return err
}

// Readiness is Ready probed in the background: /readyz needs no token, so
// however often it is asked it must cost nothing and never queue behind
// deliveries for the writer.
type Readiness struct {
	mu  sync.Mutex
	err error
}

// WatchReadiness probes Ready now, then every interval until ctx ends,
// logging each change between ready and not.
func (db *DB) WatchReadiness(ctx context.Context, every time.Duration, logger *slog.Logger) *Readiness {
	r := &Readiness{}
	r.probe(ctx, db, logger)
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				r.probe(ctx, db, logger)
			}
		}
	}()
	return r
}

func (r *Readiness) probe(ctx context.Context, db *DB, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := db.Ready(ctx)
	cancel()
	r.mu.Lock()
	was := r.err
	r.err = err
	r.mu.Unlock()
	switch {
	case err != nil && (was == nil || was.Error() != err.Error()):
		logger.Warn("Not ready: "+billing.ErrorMessage(err), "error", err)
	case err == nil && was != nil:
		logger.Info("Ready again: the database takes writes")
	}
}

// Ready returns what the last probe found.
func (r *Readiness) Ready(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// probe writes and commits one row of settings.
func (db *DB) probe(ctx context.Context) error {
	return db.inTx(ctx, func(btx billing.Tx) error {
		_, err := btx.(*tx).exec(ctx, `INSERT INTO settings (key, value) VALUES ('ready_probe', $1)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, strconv.FormatInt(time.Now().Unix(), 10))
		return err
	})
}

// checkRoom refuses a SQLite file that cannot grow by MinFreeSpace: its
// filesystem is (nearly) full, or it reached max_page_count.
func (db *DB) checkRoom(ctx context.Context) error {
	if free, ok := freeSpace(filepath.Dir(db.name)); ok && free < MinFreeSpace {
		return fmt.Errorf("%s: disk full: %d KiB free on its filesystem, %d KiB needed", db.name, free>>10, MinFreeSpace>>10)
	}
	var size, pages, limit, free int64
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"page_size", &size}, {"page_count", &pages}, {"max_page_count", &limit}, {"freelist_count", &free}} {
		if err := conn.QueryRowContext(ctx, `PRAGMA `+p.name).Scan(p.dst); err != nil {
			return err
		}
	}
	if room := (limit - pages + free) * size; room < MinFreeSpace {
		return fmt.Errorf("%s: full: %d KiB left below max_page_count, %d KiB needed", db.name, room>>10, MinFreeSpace>>10)
	}
	return nil
}

// isReadOnly reports a SQLite refusal to write: a read-only file, mount,
// shared-memory file or connection (query_only).
func isReadOnly(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_READONLY
}

// resetWriter closes the writer's idle connection, so that the next write
// opens the files again and sees what an operator repaired.
func (db *DB) resetWriter() {
	db.write.SetMaxIdleConns(0)
	db.write.SetMaxIdleConns(1)
}

// unwritableFile names the first of a SQLite database's files, or its
// directory, that this process cannot write, or returns "". SQLite needs to
// write all of them, and says only "attempt to write a readonly database".
func unwritableFile(path string) string {
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		file, err := os.OpenFile(f, os.O_RDWR, 0)
		switch {
		case err == nil:
			file.Close()
		case !errors.Is(err, os.ErrNotExist):
			return f + " is not writable: " + reason(err) + " (" + describe(f) + ")"
		}
	}
	dir := filepath.Dir(path)
	if err := dirWritable(dir); err != nil {
		return "directory " + dir + " is not writable: " + err.Error() + " (" + describe(dir) + "); SQLite creates " +
			filepath.Base(path) + "-wal and -shm there"
	}
	return ""
}

// reason is the system's word for why a file would not open.
func reason(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// describe says who owns a file and its mode, for an operator to fix it.
func describe(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%smode %v; this process runs as %d:%d", owner(fi), fi.Mode().Perm(), os.Geteuid(), os.Getegid())
}

// CheckWritable reports, for a service about to start, whether the
// database takes a write: Open checked the SQLite files' modes, but a full
// disk or a read-only PostgreSQL shows only when a write is tried.
func (db *DB) CheckWritable(ctx context.Context) error {
	if err := db.probe(ctx); err != nil {
		return fmt.Errorf("database %s cannot be written: %w", db.name, err)
	}
	return nil
}
