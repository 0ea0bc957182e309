package cli

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/acme/billing"
)

func workspacesCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "workspaces create")
	name := fs.String("name", "", "display name")
	email := fs.String("email", "", "billing email")
	return withApp(ctx, env, fs, args, 1, func(a *app, pos []string) error {
		ws, created, err := a.svc.CreateWorkspace(ctx, billing.Workspace{ID: pos[0], Name: *name, Email: *email})
		if err != nil {
			return err
		}
		verb := "Created"
		if !created {
			verb = "Exists:"
		}
		fmt.Fprintf(env.Stdout, "%s workspace %s (name %q, email %q)\n", verb, ws.ID, ws.Name, ws.Email)
		return nil
	})
}

func workspacesList(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "workspaces list")
	limit := fs.Int("limit", 50, "at most this many workspaces (1-1000)")
	offset := fs.Int("offset", 0, "skip this many first")
	status := fs.String("status", "", "only those whose subscription has this status (past_due, active, …; none for no subscription)")
	return withReader(ctx, env, fs, args, 0, func(a *app, _ []string) error {
		if *limit < 1 || *limit > 1000 || *offset < 0 {
			return fmt.Errorf("--limit must be from 1 to 1000 and --offset not negative")
		}
		all, err := a.db.Workspaces(ctx, *status, *offset, *limit)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tEMAIL\tCUSTOMER\tSUBSCRIPTION\tPLAN\tCREDITS")
		for _, st := range all {
			status, plan := "-", "-"
			if s := st.Subscription; s != nil {
				status, plan = s.Status, cmp.Or(s.PlanID, "-")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", st.ID, cmp.Or(st.Name, "-"), cmp.Or(st.Email, "-"),
				cmp.Or(st.StripeCustomerID, "-"), status, plan, st.Credits.Total())
		}
		return tw.Flush()
	})
}

func workspacesShow(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "workspaces show")
	return withReader(ctx, env, fs, args, 1, func(a *app, pos []string) error {
		st, err := a.db.WorkspaceState(ctx, pos[0])
		if err != nil {
			return err
		}
		e := a.svc.Entitle(st.Subscription)
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		for _, row := range [][2]string{
			{"workspace", st.ID}, {"name", cmp.Or(st.Name, "-")}, {"email", cmp.Or(st.Email, "-")},
			{"customer", cmp.Or(st.StripeCustomerID, "-")}, {"created", when(st.CreatedAt)},
			{"credits", strconv.FormatInt(st.Credits.Total(), 10) + " (" + strconv.FormatInt(st.Credits.Subscription, 10) +
				" subscription, " + strconv.FormatInt(st.Credits.Purchased, 10) + " purchased)"},
			{"entitled", map[bool]string{true: "yes", false: "no"}[e.Entitled] + " (" + e.Reason + ")"},
		} {
			fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
		}
		if err := tw.Flush(); err != nil || st.Subscription == nil {
			return err
		}
		fmt.Fprintln(env.Stdout)
		return printSubscription(env.Stdout, st.Subscription, e)
	})
}
