package cli

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"
)

func sessionsList(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "admin sessions list")
	return withReader(ctx, env, fs, args, 0, func(a *app, _ []string) error {
		list, err := a.db.Sessions(ctx, time.Now())
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED\tEXPIRES\tFROM")
		for _, s := range list {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.ID, s.CreatedAt.UTC().Format(time.RFC3339),
				s.ExpiresAt.UTC().Format(time.RFC3339), s.RemoteAddr)
		}
		return tw.Flush()
	})
}

func sessionsRevoke(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "admin sessions revoke")
	all := fs.Bool("all", false, "end every session")
	return withApp(ctx, env, fs, args, -1, func(a *app, pos []string) error {
		switch {
		case *all && len(pos) == 0:
			n, err := a.db.RevokeSessions(ctx, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "Dashboard sessions ended: %d.\n", n)
			return nil
		case *all || len(pos) != 1:
			return errUsage
		}
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || id < 1 {
			return fmt.Errorf("session ID %q: want a number that `billing admin sessions list` shows", pos[0])
		}
		if err := a.db.RevokeSession(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Ended dashboard session %d.\n", id)
		return nil
	})
}
