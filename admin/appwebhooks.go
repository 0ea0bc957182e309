package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/appwebhook"
)

// appWebhooksPath is the App webhooks page; its deliveries are under it.
const appWebhooksPath = "/admin/app-webhooks"

// deliveryStatuses are the statuses a delivery can have, for the filter.
var deliveryStatuses = []string{appwebhook.StatusPending, appwebhook.StatusSending, appwebhook.StatusDelivered,
	appwebhook.StatusFailed}

// endpointRow is an endpoint as the page shows it. Its URL may hold a
// token (in its query or user info): the page shows it redacted, and the
// Enable form names the endpoint by Key, a hash of the URL.
type endpointRow struct {
	appwebhook.Endpoint
	Shown, Key string
}

// endpointKey names an endpoint in a form without writing its URL into the page.
func endpointKey(url string) string {
	sum := sha256.Sum256([]byte(url))
	return hex.EncodeToString(sum[:12])
}

func (h *Handler) appWebhooksPage(w http.ResponseWriter, r *http.Request, s *session) {
	if h.AppWebhooks == nil {
		h.render(w, r, http.StatusOK, "appwebhooks", s, nil)
		return
	}
	status := r.URL.Query().Get("status")
	data := map[string]any{"Configured": true, "Statuses": deliveryStatuses, "Status": status}
	if status != "" && !slices.Contains(deliveryStatuses, status) {
		data["Error"] = "Unknown status " + strconv.Quote(status) + ": the status filter is one of pending, sending, delivered, failed."
		h.render(w, r, http.StatusBadRequest, "appwebhooks", s, data)
		return
	}
	ctx := r.Context()
	endpoints, err := h.AppWebhooks.Endpoints(ctx)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	deliveries, err := h.AppWebhooks.Deliveries(ctx, appwebhook.DeliveryFilter{Status: status, Limit: pageSize + 1})
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	if len(deliveries) > pageSize {
		deliveries, data["More"] = deliveries[:pageSize], pageSize
	}
	rows := make([]endpointRow, len(endpoints))
	for i, e := range endpoints {
		rows[i] = endpointRow{Endpoint: e, Shown: appwebhook.Redact(e.URL), Key: endpointKey(e.URL)}
	}
	data["Endpoints"], data["Deliveries"] = rows, deliveries
	h.render(w, r, http.StatusOK, "appwebhooks", s, data)
}

// enableEndpoint enables the disabled endpoint the form names by its key.
func (h *Handler) enableEndpoint(w http.ResponseWriter, r *http.Request, _ *session) {
	if !h.appWebhooksOn(w, r) {
		return
	}
	ctx, key := r.Context(), r.PostForm.Get("endpoint")
	endpoints, err := h.AppWebhooks.Endpoints(ctx)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	i := slices.IndexFunc(endpoints, func(e appwebhook.Endpoint) bool { return endpointKey(e.URL) == key })
	if i < 0 {
		h.fail(w, r, http.StatusNotFound, "No configured endpoint matches the form's endpoint: reload the page.")
		return
	}
	if err := h.AppWebhooks.EnableEndpoint(ctx, endpoints[i].URL, h.now()); err != nil {
		h.failErr(w, r, err)
		return
	}
	h.Logger.Info("App webhook endpoint enabled from the dashboard", "endpoint", appwebhook.Redact(endpoints[i].URL))
	http.Redirect(w, r, appWebhooksPath, http.StatusSeeOther)
}

func (h *Handler) deliveryPage(w http.ResponseWriter, r *http.Request, s *session) {
	d, ok := h.delivery(w, r)
	if !ok {
		return
	}
	attempts, err := h.AppWebhooks.Attempts(r.Context(), d.ID)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "delivery", s, map[string]any{"D": d, "Endpoint": appwebhook.Redact(d.Endpoint),
		"Body": indent(d.Body), "Attempts": attempts, "Sent": r.URL.Query().Get("sent") == "1"})
}

// sendAgain gives a delivery a new round of attempts, due now. One being
// sent right now is refused, so that a click never sends it twice at once.
func (h *Handler) sendAgain(w http.ResponseWriter, r *http.Request, _ *session) {
	d, ok := h.delivery(w, r)
	if !ok {
		return
	}
	err := h.AppWebhooks.RetryDelivery(r.Context(), d.ID, h.now())
	if billing.ErrorCode(err) == billing.ECONFLICT {
		h.fail(w, r, http.StatusConflict, "Delivery "+strconv.FormatInt(d.ID, 10)+
			" is being sent right now: wait for this attempt's outcome, then send it again if it failed.")
		return
	}
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	h.Logger.Info("App webhook delivery sent again from the dashboard", "delivery_id", d.ID, "message_id", d.MessageID)
	http.Redirect(w, r, deliveryPath(d.ID)+"?sent=1", http.StatusSeeOther)
}

// delivery reads the delivery the path names, answering 404 for none.
func (h *Handler) delivery(w http.ResponseWriter, r *http.Request) (*appwebhook.Delivery, bool) {
	if !h.appWebhooksOn(w, r) {
		return nil, false
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.fail(w, r, http.StatusNotFound, "No such delivery.")
		return nil, false
	}
	d, err := h.AppWebhooks.Delivery(r.Context(), id)
	if err != nil {
		h.failErr(w, r, err)
		return nil, false
	}
	return d, true
}

// appWebhooksOn answers 404 to the pages and actions of deliveries when no
// app webhook URL is configured.
func (h *Handler) appWebhooksOn(w http.ResponseWriter, r *http.Request) bool {
	if h.AppWebhooks == nil {
		h.fail(w, r, http.StatusNotFound, "No app webhook URL is configured (BILLING_APP_WEBHOOK_URL).")
		return false
	}
	return true
}

func deliveryPath(id int64) string {
	return appWebhooksPath + "/deliveries/" + strconv.FormatInt(id, 10)
}

// millis formats an attempt's duration for the pages.
func millis(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + " ms" }
