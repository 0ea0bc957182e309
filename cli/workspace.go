package cli

import (
	"context"
	"fmt"

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
