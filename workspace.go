package billing

import "time"

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
