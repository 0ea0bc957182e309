package cli

import (
	"cmp"
	"context"
	"encoding/json"
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
	url := fs.String("url", "", "webhook URL (default http://localhost:PORT"+api.WebhookPath+" from BILLING_ADDR)")
	mode := fs.String("mode", "", `checkout.session.* only: "payment" for a credits purchase (default subscription)`)
	secret := fs.String("secret", "", "webhook signing secret to sign with (default STRIPE_WEBHOOK_SECRET, else the development secret of DATABASE_URL's database)")
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
		signing, from, err := a.signingSecret(ctx, *secret)
		if err != nil {
			return err
		}
		if *price == "" {
			if plans := a.cfg.Plans.List(); len(plans) > 0 {
				*price = plans[0].StripePriceIDs[0]
			}
		}
		if *url == "" {
			*url = "http://" + localAddr(a.cfg.Addr) + api.WebhookPath
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
		return send(ctx, env, *url, signing, from, pos[0], payload)
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

// signingSecret is the secret trigger signs with, and where it came from:
// --secret, else STRIPE_WEBHOOK_SECRET, else the database's development one.
func (a *app) signingSecret(ctx context.Context, flagged string) (secret, from string, err error) {
	if flagged != "" {
		return flagged, "--secret", nil
	}
	secrets, dev, err := a.webhookSecrets(ctx)
	if err != nil {
		return "", "", err
	}
	if dev {
		return secrets[0], "the development secret of " + redact.DSN(a.cfg.DatabaseURL), nil
	}
	return secrets[0], "STRIPE_WEBHOOK_SECRET", nil
}

// send posts a signed event and prints the answer; a 400 for an unknown
// signature says where the secret came from.
func send(ctx context.Context, env *Env, url, secret, from, what string, payload []byte) error {
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := trigger.Send(ctx, client, url, secret, payload)
	if err != nil {
		return fmt.Errorf("post %s: %w (is `billing serve` running?)", url, err)
	}
	fmt.Fprintf(env.Stdout, "%s -> %s: %d %s\n", what, url, resp.Status, strings.TrimSpace(string(resp.Body)))
	if resp.Status == http.StatusBadRequest && strings.Contains(string(resp.Body), "no signature matches") {
		return fmt.Errorf("the service answered 400: it does not know the secret this event was signed with, taken from %s. "+
			"Sign with the one `billing serve` printed (--secret whsec_…), or run trigger with the service's DATABASE_URL (its directory, for SQLite)", from)
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
	url := fs.String("url", "", "webhook URL (default http://localhost:PORT"+api.WebhookPath+" from BILLING_ADDR)")
	secret := fs.String("secret", "", "webhook signing secret (default STRIPE_WEBHOOK_SECRET, else the development secret of DATABASE_URL's database)")
	return withApp(ctx, env, fs, args, 1, func(a *app, pos []string) error {
		signing, from, err := a.signingSecret(ctx, *secret)
		if err != nil {
			return err
		}
		*url = cmp.Or(*url, "http://"+localAddr(a.cfg.Addr)+api.WebhookPath)
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
			if err := send(ctx, env, *url, signing, from, ev.Type, payload); err != nil {
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
