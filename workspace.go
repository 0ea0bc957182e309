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
	if err := ValidateWorkspaceID(w.ID); err != nil {
		return err
	}
	if err := checkText("workspace name", w.Name, MaxName); err != nil {
		return err
	}
	return checkText("workspace email", w.Email, MaxName)
}

// WorkspaceState is a workspace's billing state as the read API shows it.
type WorkspaceState struct {
	Workspace
	Subscription *Subscription
	Credits      Balance
	// CustomerDiscount is its Stripe customer's discount, nil for none.
	CustomerDiscount *Discount
}

// CreateWorkspace creates w, or, when its id exists, returns the stored one
// (filling in a name or email it lacked) with created false.
func (s *Service) CreateWorkspace(ctx context.Context, w Workspace) (*Workspace, bool, error) {
	w.Name, w.Email = strings.TrimSpace(w.Name), strings.TrimSpace(w.Email)
	if err := w.Validate(); err != nil {
		return nil, false, err
	}
	w.CreatedAt = s.now()
	var created bool
	var stored *Workspace
	err := s.inTx(ctx, func(tx Tx) error {
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
