package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/api"
)

func eventsList(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "events list")
	status := fs.String("status", "", "only events in this status: processed, ignored, stale, failed")
	typ := fs.String("type", "", "only events of this type, e.g. invoice.paid")
	limit := fs.Int("limit", 50, "at most this many events (1-1000)")
	return withReader(ctx, env, fs, args, 0, func(a *app, _ []string) error {
		switch billing.EventStatus(*status) {
		case "", billing.StatusProcessed, billing.StatusIgnored, billing.StatusStale, billing.StatusFailed:
		default:
			return fmt.Errorf("--status %q: want processed, ignored, stale or failed", *status)
		}
		events, err := a.db.Events(ctx, billing.EventFilter{Status: billing.EventStatus(*status), Type: *typ, Limit: *limit})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTYPE\tSTATUS\tATTEMPTS\tRECEIVED\tACCOUNT\tLAST ERROR OR NOTE")
		for _, e := range events {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", e.ID, e.Type, e.Status, e.Attempts,
				e.ReceivedAt.Format(time.RFC3339), cmp.Or(e.Account, "-"), cmp.Or(e.LastError, e.Note))
		}
		return tw.Flush()
	})
}

func eventsShow(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "events show")
	return withReader(ctx, env, fs, args, 1, func(a *app, pos []string) error {
		e, err := a.db.Event(ctx, pos[0])
		if err != nil {
			return err
		}
		out := struct {
			api.EventJSON
			Payload json.RawMessage `json:"payload"`
		}{api.ToEventJSON(e), e.Payload}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	})
}

func eventsReplay(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "events replay")
	return withApp(ctx, env, fs, args, 1, func(a *app, pos []string) error {
		status, err := a.svc.Replay(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Replayed %s: %s\n", pos[0], status)
		return nil
	})
}
