package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/acme/billing/api"
	"github.com/acme/billing/redact"
	"github.com/acme/billing/trigger"
)

func triggerCmd(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "trigger")
	workspace := fs.String("workspace", "ws_1", "workspace the event's objects belong to (metadata.workspace_id)")
	to := targetFlags(fs)
	mode := fs.String("mode", "", `checkout.session.* only: "payment" for a credits purchase (default subscription)`)
	invoice := fs.String("invoice", "", "invoice id of an invoice.* event (default a new one per event; the workspace's first invoice is in_… of its key)")
	set := map[string]any{}
	fs.Func("set", "`path=value` to override, a dotted path into the event (data.object.status=past_due); a JSON value (42, true, null, {…}) is taken as JSON; repeatable", func(kv string) error {
		path, value, ok := strings.Cut(kv, "=")
		if !ok || path == "" {
			return fmt.Errorf("want path=value, such as data.object.status=past_due")
		}
		var v any = value
		if json.Valid([]byte(value)) {
			_ = json.Unmarshal([]byte(value), &v)
		}
		set[path] = v
		return nil
	})
	thin := fs.Bool("thin", false, "send the thin version (v1.<type>, as an event destination does), whose object the service fetches from Stripe")
	version := fs.String("api-version", trigger.LatestAPIVersion, "payload shape: one of "+strings.Join(trigger.APIVersions(), ", "))
	price := fs.String("price", "", "Stripe price id of the subscription (default the first price of the plans file)")
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprintf(env.Stderr, "\nEvent types:\n  %s\n\nScenarios (billing trigger scenario NAME --workspace ID):\n  %s\n",
			strings.Join(trigger.Types(), "\n  "), strings.Join(trigger.ScenarioNames(), "\n  "))
	}
	return withApp(ctx, env, fs, args, 1, func(a *app, pos []string) error {
		if err := to.resolve(ctx, a); err != nil {
			return err
		}
		if *price == "" {
			if plans := a.cfg.Plans.List(); len(plans) > 0 {
				*price = plans[0].StripePriceIDs[0]
			}
		}
		variant := ""
		if *mode == "payment" {
			variant = "payment"
		} else if *mode != "" && *mode != "subscription" {
			return fmt.Errorf("--mode %q: want subscription or payment", *mode)
		}
		if strings.HasPrefix(pos[0], "invoice.") && !*thin && set["data.object.id"] == nil {
			set["data.object.id"] = cmp.Or(*invoice, "in_"+strings.TrimPrefix(trigger.NewEventID(), "evt_"))
		}
		payload, err := trigger.Build(trigger.Options{
			Type: pos[0], Variant: variant, APIVersion: *version, Workspace: *workspace, PriceID: *price,
			Now: time.Now().UTC().Truncate(24 * time.Hour), Thin: *thin, Set: set,
		})
		if err != nil {
			return err
		}
		return to.send(ctx, env, pos[0], payload)
	})
}

// localAddr turns a listen address such as ":8000" into one to dial.
func localAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// target is where trigger sends and what it signs with.
type target struct {
	url, secret *string // the flags
	from        string  // where the secret came from, for the 400's hint
}

func targetFlags(fs *flag.FlagSet) *target {
	return &target{
		url:    fs.String("url", "", "webhook URL (default http://localhost:PORT"+api.WebhookPath+" from BILLING_ADDR)"),
		secret: fs.String("secret", "", "webhook signing secret (default STRIPE_WEBHOOK_SECRET, else the development secret of DATABASE_URL's database)"),
	}
}

// resolve fills in the defaults: the service's address, and the secret
// from --secret, else STRIPE_WEBHOOK_SECRET, else the database's
// development one.
func (t *target) resolve(ctx context.Context, a *app) error {
	*t.url = cmp.Or(*t.url, "http://"+localAddr(a.cfg.Addr)+api.WebhookPath)
	if *t.secret != "" {
		t.from = "--secret"
		return nil
	}
	secrets, dev, err := a.webhookSecrets(ctx)
	if err != nil {
		return err
	}
	*t.secret, t.from = secrets[0], "STRIPE_WEBHOOK_SECRET"
	if dev {
		t.from = "the development secret of " + redact.DSN(a.cfg.DatabaseURL)
	}
	return nil
}

// send posts a signed event and prints the answer; a 400 for an unknown
// signature says where the secret came from.
func (t *target) send(ctx context.Context, env *Env, what string, payload []byte) error {
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := trigger.Send(ctx, client, *t.url, *t.secret, payload)
	if err != nil {
		return fmt.Errorf("post %s: %w (is `billing serve` running?)", *t.url, err)
	}
	fmt.Fprintf(env.Stdout, "%s -> %s: %d %s\n", what, *t.url, resp.Status, strings.TrimSpace(string(resp.Body)))
	if resp.Status == http.StatusBadRequest && strings.Contains(string(resp.Body), "no signature matches") {
		return fmt.Errorf("the service answered 400: it does not know the secret this event was signed with, taken from %s. "+
			"Sign with the one `billing serve` printed (--secret whsec_…), or run trigger with the service's DATABASE_URL (its directory, for SQLite)", t.from)
	}
	if resp.Status != http.StatusOK {
		return fmt.Errorf("the service answered %d", resp.Status)
	}
	return nil
}

// triggerScenario sends a scenario's events in turn, printing the
// workspace as the service has it after each.
func triggerScenario(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "trigger scenario")
	workspace := fs.String("workspace", "ws_1", "workspace the flow's objects belong to")
	to := targetFlags(fs)
	return withApp(ctx, env, fs, args, 1, func(a *app, pos []string) error {
		if err := to.resolve(ctx, a); err != nil {
			return err
		}
		var prices []string
		for _, p := range a.cfg.Plans.List() {
			prices = append(prices, p.StripePriceIDs[0])
		}
		prices = append(prices, "", "")
		events, err := trigger.Scenario(pos[0], *workspace, cmp.Or(prices[0], "price_TestPro"), prices[1], time.Now().UTC())
		if err != nil {
			return err
		}
		for _, payload := range events {
			var ev struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(payload, &ev)
			if err := to.send(ctx, env, ev.Type, payload); err != nil {
				return err
			}
			st, err := a.db.WorkspaceState(ctx, *workspace)
			if err != nil {
				return err
			}
			status, plan := "none", "-"
			if s := st.Subscription; s != nil {
				status, plan = s.Status, cmp.Or(s.PlanID, "-")
			}
			fmt.Fprintf(env.Stdout, "  %s: subscription %s, plan %s, credits %d (%d subscription, %d purchased)\n",
				*workspace, status, plan, st.Credits.Total(), st.Credits.Subscription, st.Credits.Purchased)
		}
		return nil
	})
}
