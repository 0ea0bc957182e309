package billing

import "context"

// MetadataWorkspaceID is the metadata key that names an object's workspace.
const MetadataWorkspaceID = "workspace_id"

// resolve finds the workspace an object belongs to: the first non-empty
// candidate (metadata, client_reference_id), else the workspace linked to its
// customer, else to its subscription. It returns "" for an object that
// belongs to no workspace yet; such objects are stored unlinked and attached
// when a later event links their customer.
func (a *applier) resolve(ctx context.Context, candidates []string, customerID, subscriptionID string) (string, error) {
	ws, err := a.resolveWorkspace(ctx, candidates, customerID, subscriptionID)
	if err == nil && a.e.WorkspaceID == "" {
		a.e.WorkspaceID = ws // the event log shows it
	}
	return ws, err
}

func (a *applier) resolveWorkspace(ctx context.Context, candidates []string, customerID, subscriptionID string) (string, error) {
	ws := ""
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if err := ValidateWorkspaceID(c); err != nil {
			// Metadata is typed by people in Stripe's dashboard too: an id
			// the API would refuse names no workspace here, and never
			// reaches a key. The object is resolved as if it were absent.
			a.log.Warn("Stripe object names a workspace id that is not valid; ignored", "workspace", c, "error", ErrorMessage(err))
			continue
		}
		ws = c
		break
	}
	if ws != "" {
		if err := a.tx.EnsureWorkspace(ctx, ws, a.now()); err != nil {
			return "", err
		}
		return ws, a.link(ctx, ws, customerID)
	}
	if customerID != "" {
		c, err := a.tx.Customer(ctx, customerID)
		if err != nil && !isNotFound(err) {
			return "", err
		}
		if err == nil && c.WorkspaceID != "" {
			return c.WorkspaceID, nil
		}
	}
	if subscriptionID != "" {
		s, err := a.tx.Subscription(ctx, subscriptionID)
		if err != nil && !isNotFound(err) {
			return "", err
		}
		if err == nil && s.WorkspaceID != "" {
			return s.WorkspaceID, a.link(ctx, s.WorkspaceID, customerID)
		}
	}
	a.log.Warn("Stripe object belongs to no workspace yet; stored unlinked until an event links its customer",
		"customer", customerID, "subscription", subscriptionID)
	return "", nil
}

// link ties a customer to a workspace the first time one is seen together,
// then attaches the customer's unlinked rows and applies the grants that
// waited for them.
func (a *applier) link(ctx context.Context, ws, customerID string) error {
	if customerID == "" {
		return nil
	}
	c, err := a.tx.Customer(ctx, customerID)
	switch {
	case isNotFound(err):
		c = &Customer{ID: customerID}
	case err != nil:
		return err
	}
	if c.WorkspaceID != "" {
		if c.WorkspaceID != ws {
			a.log.Warn("Stripe customer is linked to another workspace; keeping the first link",
				"customer", customerID, "linked_workspace", c.WorkspaceID, "workspace", ws)
		}
		return nil
	}
	c.WorkspaceID = ws
	if err := a.tx.SaveCustomer(ctx, c); err != nil {
		return err
	}
	if err := a.tx.SetWorkspaceCustomer(ctx, ws, customerID); err != nil {
		return err
	}
	if err := a.tx.AttachUnlinked(ctx, ws, customerID); err != nil {
		return err
	}
	grants, err := a.tx.TakePendingGrants(ctx, customerID)
	if err != nil {
		return err
	}
	for i := range grants {
		grants[i].WorkspaceID = ws
		if err := a.grant(ctx, &grants[i]); err != nil {
			return err
		}
	}
	return nil
}
