package store

import (
	"context"
	"fmt"
	"time"
)

// AddHistory stores n processed events with random ids and the given
// payload, received over the 30 days before now, so that a load test can
// measure the service on an events table as large as a busy account's.
// It is for benchmarks only: the rows name no billing objects.
func (db *DB) AddHistory(ctx context.Context, n int, payload []byte, now time.Time) error {
	randomID := `'evt_hist_' || lower(hex(randomblob(12)))`
	if db.Postgres() {
		randomID = `'evt_hist_' || md5(random()::text)`
	}
	const chunk = 50000 // rows per transaction, to bound the WAL and the memory
	for done := 0; done < n; done += chunk {
		rows := min(chunk, n-done)
		_, err := db.write.ExecContext(ctx, `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $1)
			INSERT INTO events (id, type, api_version, created, payload, status, attempts, received_at, processed_at)
			SELECT `+randomID+`, 'payment_intent.succeeded', '2026-03-25.dahlia', $2 - i % 2592000, $3, 'processed', 1,
				$2 - i % 2592000, $2 - i % 2592000 FROM s`, rows, now.Unix(), payload)
		if err != nil {
			return fmt.Errorf("add history: %w", err)
		}
	}
	return nil
}
