package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/acme/billing"
)

// priceRefreshKey is the settings row that records the last refresh of
// stripe_prices, as JSON: {"at": unix seconds, "error": "…"}.
const priceRefreshKey = "stripe_prices_refresh"

type priceRefresh struct {
	At    int64  `json:"at"`
	Error string `json:"error"`
}

// SavePrices implements billing.Store. Prices are written in id order, so
// that two instances refreshing at once on PostgreSQL lock rows in the same
// order.
func (db *DB) SavePrices(ctx context.Context, prices []billing.Price, r billing.PriceRefresh) error {
	value, err := json.Marshal(priceRefresh{At: sec(r.At), Error: db.redact.String(r.Error)})
	if err != nil {
		return err
	}
	prices = slices.SortedFunc(slices.Values(prices), func(a, b billing.Price) int { return cmp.Compare(a.ID, b.ID) })
	err = db.InTx(ctx, func(btx billing.Tx) error {
		t := btx.(*tx)
		for _, p := range prices {
			if _, err := t.exec(ctx, `INSERT INTO stripe_prices (id, amount, currency, interval, interval_count, active, fetched_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET amount = excluded.amount,
				currency = excluded.currency, interval = excluded.interval, interval_count = excluded.interval_count,
				active = excluded.active, fetched_at = excluded.fetched_at`,
				p.ID, p.Amount, p.Currency, p.Interval, p.IntervalCount, p.Active, sec(r.At)); err != nil {
				return fmt.Errorf("price %s: %w", p.ID, err)
			}
		}
		_, err := t.exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, priceRefreshKey, string(value))
		return err
	})
	if err != nil {
		return fmt.Errorf("save prices: %w", err)
	}
	return nil
}

// CachedPrices implements billing.Store.
func (db *DB) CachedPrices(ctx context.Context) (map[string]billing.Price, billing.PriceRefresh, error) {
	var last billing.PriceRefresh
	list, err := queryAll(ctx, db.read, func(s scanner) (billing.Price, error) {
		var p billing.Price
		err := s.Scan(&p.ID, &p.Amount, &p.Currency, &p.Interval, &p.IntervalCount, &p.Active)
		return p, err
	}, `SELECT id, amount, currency, interval, interval_count, active FROM stripe_prices`)
	if err != nil {
		return nil, last, fmt.Errorf("read cached prices: %w", classify(err))
	}
	var raw string
	err = db.read.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, priceRefreshKey).Scan(&raw)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, last, fmt.Errorf("read the last refresh of prices: %w", classify(err))
	default:
		var r priceRefresh
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return nil, last, fmt.Errorf("settings %s: %w", priceRefreshKey, err)
		}
		last = billing.PriceRefresh{At: billing.Unix(r.At), Error: r.Error}
	}
	cached := make(map[string]billing.Price, len(list))
	for _, p := range list {
		cached[p.ID] = p
	}
	return cached, last, nil
}
