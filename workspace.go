package billing

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Workspace is the app's billing account: what subscriptions and credits belong to.
type Workspace struct {
	ID               string
	Name             string
	Email            string
	StripeCustomerID string
	CreatedAt        time.Time
}

// Validate reports what is wrong with a workspace the app asks to create.
func (w *Workspace) Validate() error {
	switch {
	case w.ID == "":
		return Errorf(EINVALID, "workspace id is required")
	case len(w.ID) > 255:
		return Errorf(EINVALID, "workspace id is longer than 255 characters")
	case len(w.Name) > 500 || len(w.Email) > 500:
		return Errorf(EINVALID, "workspace name and email must be at most 500 characters")
	}
	return nil
}

// WorkspaceState is a workspace's billing state as the read API shows it.
type WorkspaceState struct {
	Workspace
	Subscription *Subscription
	Credits      Balance
}

// CreateWorkspace creates w, or, when its id exists, returns the stored one
// (filling in a name or email it lacked) with created false.
func (s *Service) CreateWorkspace(ctx context.Context, w Workspace) (*Workspace, bool, error) {
	w.ID, w.Name, w.Email = strings.TrimSpace(w.ID), strings.TrimSpace(w.Name), strings.TrimSpace(w.Email)
	if err := w.Validate(); err != nil {
		return nil, false, err
	}
	w.CreatedAt = s.now()
	var created bool
	var stored *Workspace
	err := s.Store.InTx(ctx, func(tx Tx) error {
		var err error
		if created, err = tx.CreateWorkspace(ctx, &w); err != nil {
			return err
		}
		stored, err = tx.Workspace(ctx, w.ID)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("create workspace %q: %w", w.ID, err)
	}
	return stored, created, nil
}
