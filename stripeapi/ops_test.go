package stripeapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/stripeapi"
	"github.com/acme/billing/stripeapi/stripetest"
)

func client(t *testing.T) (*stripeapi.Client, *stripetest.Recorder) {
	rec := &stripetest.Recorder{}
	return stripeapi.New(stripeapi.Options{Key: "sk_test_123", URL: stripetest.Start(t),
		HTTPClient: &http.Client{Transport: rec}}), rec
}

func TestSetupWebhookCreatesPinnedEndpoint(t *testing.T) {
	c, rec := client(t)
	events := []string{"invoice.paid", "customer.subscription.updated"}
	we, err := c.SetupWebhook(context.Background(), "https://billing.example.com/api/billing/webhooks/stripe/", events)
	if err != nil || !we.Created || !strings.HasPrefix(we.ID, "we_") {
		t.Fatalf("endpoint = %+v, %v", we, err)
	}
	create := rec.Requests("/v1/webhook_endpoints")
	last := create[len(create)-1]
	if last.Method != http.MethodPost || last.Form.Get("api_version") != stripeapi.APIVersion ||
		last.Form.Get("url") != "https://billing.example.com/api/billing/webhooks/stripe/" ||
		strings.Join(last.Form["enabled_events[0]"], "")+strings.Join(last.Form["enabled_events[1]"], "") != "invoice.paidcustomer.subscription.updated" {
		t.Errorf("create sent %v", last.Form)
	}
}

// stripe-mock lists one endpoint at https://example.com/my/webhook/endpoint:
// asked for that URL, SetupWebhook updates it instead of adding another.
func TestSetupWebhookUpdatesTheEndpointAtThatURL(t *testing.T) {
	c, rec := client(t)
	we, err := c.SetupWebhook(context.Background(), "https://example.com/my/webhook/endpoint", []string{"invoice.paid"})
	if err != nil || we.Created || we.Secret != "" {
		t.Fatalf("endpoint = %+v, %v", we, err)
	}
	for _, r := range rec.Requests("/v1/webhook_endpoints") {
		if r.Method == http.MethodPost {
			t.Errorf("created an endpoint: %v", r.Form)
		}
	}
	if up := rec.Requests("/v1/webhook_endpoints/" + we.ID); len(up) != 1 || up[0].Form.Get("enabled_events[0]") != "invoice.paid" {
		t.Errorf("update requests = %+v", up)
	}
}

func TestUndeliveredEventsAsksForFailedDeliveries(t *testing.T) {
	c, rec := client(t)
	since := time.Now().Add(-72 * time.Hour)
	var got []map[string]any
	err := c.UndeliveredEvents(context.Background(), since, []string{"invoice.paid", "charge.refunded"}, func(p []byte) error {
		var e map[string]any
		if err := json.Unmarshal(p, &e); err != nil {
			return err
		}
		got = append(got, e)
		return nil
	})
	if err != nil || len(got) == 0 || got[0]["object"] != "event" || got[0]["data"].(map[string]any)["object"] == nil {
		t.Fatalf("events = %v, %v", got, err)
	}
	q := rec.Requests("/v1/events")[0].Form
	if q.Get("delivery_success") != "false" || q.Get("types[0]") != "invoice.paid" || q.Get("types[1]") != "charge.refunded" ||
		q.Get("created[gte]") != strconv.FormatInt(since.Unix(), 10) {
		t.Errorf("list sent %v", q)
	}
}

func TestObjectsPagesEveryKindWithTheFilter(t *testing.T) {
	c, rec := client(t)
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var kinds []string
	err := c.Objects(context.Background(), stripeapi.SyncFilter{Since: since, CustomerID: "cus_Only"}, func(obj any) error {
		kinds = append(kinds, strings.TrimPrefix(fmt.Sprintf("%T", obj), "*billing."))
		return nil
	})
	if err != nil || strings.Join(kinds, " ") != "Customer Subscription Invoice Payment" {
		t.Fatalf("objects = %v, %v", kinds, err)
	}
	if r := rec.Requests("/v1/customers/cus_Only"); len(r) != 1 {
		t.Errorf("customer retrieve requests = %d", len(r))
	}
	subs := rec.Requests("/v1/subscriptions")[0].Form
	if subs.Get("status") != "all" || subs.Get("customer") != "cus_Only" || subs.Get("created[gte]") != strconv.FormatInt(since.Unix(), 10) {
		t.Errorf("subscriptions list sent %v", subs)
	}
	for _, path := range []string{"/v1/invoices", "/v1/payment_intents"} {
		if q := rec.Requests(path)[0].Form; q.Get("customer") != "cus_Only" || q.Get("created[gte]") == "" {
			t.Errorf("%s list sent %v", path, q)
		}
	}
}

// stripe-mock validates parameters as Stripe does: an event type Stripe does
// not have is refused, and the refusal becomes a stripe_error (400) with
// Stripe's message.
func TestStripeRefusalFromTheMockIsAStripeError(t *testing.T) {
	c, _ := client(t)
	_, err := c.SetupWebhook(context.Background(), "https://billing.example.com/hook", []string{"invoice.bogus"})
	if billing.ErrorCode(err) != billing.ESTRIPE || !strings.Contains(billing.ErrorMessage(err), "enabled_events") {
		t.Errorf("err = %v, want stripe_error naming enabled_events", err)
	}
}

// Stripe lists events newest first; recovery applies them oldest first, so
// a later state is not overwritten by an earlier one.
func TestUndeliveredEventsOldestFirst(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"list","has_more":false,"url":"/v1/events","data":[
			{"id":"evt_New","object":"event","type":"invoice.paid","created":200,"data":{"object":{"id":"in_1","object":"invoice"}}},
			{"id":"evt_Old","object":"event","type":"invoice.finalized","created":100,"data":{"object":{"id":"in_1","object":"invoice"}}}]}`)
	}))
	t.Cleanup(srv.Close)
	c := stripeapi.New(stripeapi.Options{Key: "sk_test_123", URL: srv.URL})
	var ids []string
	err := c.UndeliveredEvents(context.Background(), time.Now().Add(-time.Hour), []string{"invoice.paid"}, func(p []byte) error {
		var e struct{ ID string }
		err := json.Unmarshal(p, &e)
		ids = append(ids, e.ID)
		return err
	})
	if err != nil || strings.Join(ids, " ") != "evt_Old evt_New" {
		t.Errorf("order = %v, %v; want evt_Old evt_New", ids, err)
	}
}

// setup-webhook subscribes the endpoint to every type billing handles, and
// stripe-mock, which knows Stripe's list of event types, takes them all.
func TestSetupWebhookSubscribesEveryHandledType(t *testing.T) {
	c, rec := client(t)
	types := billing.SubscribedEventTypes()
	if _, err := c.SetupWebhook(context.Background(), "https://billing.example.com/api/billing/webhooks/stripe/", types); err != nil {
		t.Fatal(err)
	}
	create := rec.Requests("/v1/webhook_endpoints")
	form := create[len(create)-1].Form
	var sent []string
	for i := range len(types) + 1 {
		sent = append(sent, form[fmt.Sprintf("enabled_events[%d]", i)]...)
	}
	if strings.Join(sent, ",") != strings.Join(types, ",") {
		t.Errorf("enabled_events = %v, want %v", sent, types)
	}
	for _, want := range []string{"invoice.payment_action_required", "checkout.session.async_payment_succeeded",
		"charge.dispute.closed", "refund.updated", "customer.subscription.paused", "customer.discount.deleted", "invoice_payment.paid"} {
		if !slices.Contains(types, want) {
			t.Errorf("%s is not subscribed", want)
		}
	}
}
