package admin

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/acme/billing"
)

// eventStatuses are the statuses a stored event can have, for the filter.
var eventStatuses = []billing.EventStatus{billing.StatusProcessed, billing.StatusFailed, billing.StatusIgnored,
	billing.StatusStale, billing.StatusReceived}

// eventQuery is the event log's filter and page, from the query string.
type eventQuery struct {
	Status, Type, From, To string
	Page                   int
}

func parseEventQuery(q url.Values) (eventQuery, billing.EventFilter, string) {
	eq := eventQuery{Status: q.Get("status"), Type: strings.TrimSpace(q.Get("type")), From: q.Get("from"), To: q.Get("to"), Page: 1}
	f := billing.EventFilter{Status: billing.EventStatus(eq.Status), Type: eq.Type, Limit: pageSize + 1}
	if eq.Status != "" && !slices.Contains(eventStatuses, f.Status) {
		return eq, f, "Unknown status " + strconv.Quote(eq.Status) + "."
	}
	if len(eq.Type) > 100 {
		return eq, f, "The event type is too long."
	}
	for _, d := range []struct {
		v   string
		dst *time.Time
		end bool
	}{{eq.From, &f.Since, false}, {eq.To, &f.Until, true}} {
		if d.v == "" {
			continue
		}
		t, err := time.Parse("2006-01-02", d.v)
		if err != nil {
			return eq, f, "Dates are YYYY-MM-DD, not " + strconv.Quote(d.v) + "."
		}
		if d.end {
			t = t.AddDate(0, 0, 1) // the whole "to" day
		}
		*d.dst = t
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return eq, f, "The from date is after the to date."
	}
	if p := q.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 100000 {
			return eq, f, "Bad page number " + strconv.Quote(p) + "."
		}
		eq.Page = n
	}
	f.Offset = (eq.Page - 1) * pageSize
	return eq, f, ""
}

// link is the event log's URL for the same filter on another page.
func (q eventQuery) link(page int) string {
	v := url.Values{}
	for k, s := range map[string]string{"status": q.Status, "type": q.Type, "from": q.From, "to": q.To} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return Prefix
	}
	return Prefix + "?" + v.Encode()
}

// typeRow is one line of the per-type counts.
type typeRow struct {
	Type                                     string
	Total, Processed, Failed, Ignored, Other int64
}

func typeRows(counts []billing.EventCount) []typeRow {
	var rows []typeRow
	for _, c := range counts {
		if len(rows) == 0 || rows[len(rows)-1].Type != c.Type {
			rows = append(rows, typeRow{Type: c.Type})
		}
		r := &rows[len(rows)-1]
		r.Total += c.N
		switch c.Status {
		case billing.StatusProcessed:
			r.Processed += c.N
		case billing.StatusFailed:
			r.Failed += c.N
		case billing.StatusIgnored:
			r.Ignored += c.N
		default:
			r.Other += c.N
		}
	}
	return rows
}

func (h *Handler) eventsPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	q, f, problem := parseEventQuery(r.URL.Query())
	data := map[string]any{"Query": q, "Statuses": eventStatuses}
	if problem != "" {
		data["Error"] = problem
		h.render(w, r, http.StatusBadRequest, "events", s, data)
		return
	}
	events, err := h.Store.Events(ctx, f)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	if len(events) > pageSize {
		events = events[:pageSize]
		data["Older"] = q.link(q.Page + 1)
	}
	if q.Page > 1 {
		data["Newer"] = q.link(q.Page - 1)
	}
	now := h.now()
	since := f.Since
	if since.IsZero() && f.Until.IsZero() {
		since = now.Add(-24 * time.Hour) // counts default to the chart's day
	}
	counts, err := h.Store.EventCounts(ctx, since, f.Until)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	hours, err := h.Store.EventsPerHour(ctx, now.Truncate(time.Hour).Add(-23*time.Hour))
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	unsent, err := h.Store.UnsentNotifications(ctx)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	data["Events"], data["Types"], data["Chart"], data["Unsent"] = events, typeRows(counts), newChart(hours, now), unsent
	data["CountsPeriod"] = countsPeriod(since, f.Until)
	h.render(w, r, http.StatusOK, "events", s, data)
}

func countsPeriod(since, until time.Time) string {
	switch {
	case until.IsZero():
		return "since " + when(since)
	case since.IsZero():
		return "before " + when(until)
	}
	return "from " + when(since) + " to " + when(until)
}

func (h *Handler) eventPage(w http.ResponseWriter, r *http.Request, s *session) {
	e, err := h.Store.Event(r.Context(), r.PathValue("id"))
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	// The workspace the event applied to, as it recorded; for one it did
	// not (an ignored type, or stored before events recorded it), its
	// object's, if known.
	obj, ws := objectOf(e.Payload), e.WorkspaceID
	if ws == "" {
		if ws, err = h.Store.WorkspaceOf(r.Context(), obj.ID, obj.Customer); err != nil {
			h.failErr(w, r, err)
			return
		}
	}
	h.render(w, r, http.StatusOK, "event", s, map[string]any{"Event": e, "Payload": indent(e.Payload),
		"Replayed": r.URL.Query().Get("replayed") == "1", "Object": obj, "Workspace": ws})
}

// eventObject is what an event's page links to: its object, and the
// object's customer.
type eventObject struct {
	ID, Type, Customer string
}

// objectOf reads the object of an event's payload: data.object, or a thin
// event's related_object. A customer is an id or an expanded object.
func objectOf(payload []byte) eventObject {
	var env struct {
		Data struct {
			Object struct {
				ID       string          `json:"id"`
				Object   string          `json:"object"`
				Customer json.RawMessage `json:"customer"`
			} `json:"object"`
		} `json:"data"`
		Related struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"related_object"`
	}
	if json.Unmarshal(payload, &env) != nil {
		return eventObject{}
	}
	o := env.Data.Object
	out := eventObject{ID: cmp.Or(o.ID, env.Related.ID), Type: cmp.Or(o.Object, env.Related.Type)}
	var id struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(o.Customer, &out.Customer) != nil && json.Unmarshal(o.Customer, &id) == nil {
		out.Customer = id.ID
	}
	if out.Type == "customer" {
		out.Customer = out.ID
	}
	return out
}

// replay applies a failed event again, or one a rule left unapplied (its
// note says why: the rule's setting may have changed since), and shows the
// event with the outcome.
func (h *Handler) replay(w http.ResponseWriter, r *http.Request, _ *session) {
	id := r.PathValue("id")
	e, err := h.Store.Event(r.Context(), id)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	if e.Status != billing.StatusFailed && e.Note == "" {
		h.fail(w, r, http.StatusConflict, "Event "+id+" is "+string(e.Status)+": only failed events and those left unapplied are replayed here.")
		return
	}
	// The outcome, success or failure, is recorded on the event, which the
	// page shows.
	status, err := h.Service.Replay(r.Context(), id)
	h.Logger.Info("Event replayed from the dashboard", "event_id", id, "status", status, "error", err)
	http.Redirect(w, r, Prefix+"events/"+url.PathEscape(id)+"?replayed=1", http.StatusSeeOther)
}

// workspaceStatuses are the subscription statuses the workspaces list
// filters by, past due first: the list an on-call engineer wants.
var workspaceStatuses = []string{billing.SubPastDue, billing.SubUnpaid, billing.SubIncomplete, billing.SubPaused,
	billing.SubTrialing, billing.SubActive, billing.SubCanceled, billing.SubIncompleteExpired, "none"}

func (h *Handler) workspacesPage(w http.ResponseWriter, r *http.Request, s *session) {
	page := 1
	if p := r.URL.Query().Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			h.fail(w, r, http.StatusBadRequest, "Bad page number "+strconv.Quote(p)+".")
			return
		}
		page = n
	}
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains(workspaceStatuses, status) {
		h.fail(w, r, http.StatusBadRequest, "Unknown subscription status "+strconv.Quote(status)+".")
		return
	}
	list, err := h.Store.Workspaces(r.Context(), status, (page-1)*pageSize, pageSize+1)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	data := map[string]any{"Status": status, "Statuses": workspaceStatuses}
	link := func(p int) string {
		q := url.Values{"page": {strconv.Itoa(p)}}
		if status != "" {
			q.Set("status", status)
		}
		return "/admin/workspaces?" + q.Encode()
	}
	if len(list) > pageSize {
		list = list[:pageSize]
		data["Next"] = link(page + 1)
	}
	if page > 1 {
		data["Prev"] = link(page - 1)
	}
	data["Workspaces"] = list
	h.render(w, r, http.StatusOK, "workspaces", s, data)
}

func (h *Handler) workspacePage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, id := r.Context(), r.PathValue("id")
	st, err := h.Store.WorkspaceState(ctx, id)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	data := map[string]any{"W": st, "Entitlement": h.Service.Entitle(st.Subscription)}
	// Each section is one read; the first that fails fails the page.
	for name, read := range map[string]func() (any, error){
		"Ledger":        func() (any, error) { return h.Store.Ledger(ctx, id) },
		"Invoices":      func() (any, error) { return h.Store.Invoices(ctx, id) },
		"Checkouts":     func() (any, error) { return h.Store.CheckoutSessions(ctx, id) },
		"Refunds":       func() (any, error) { return h.Store.Refunds(ctx, id) },
		"Disputes":      func() (any, error) { return h.Store.Disputes(ctx, id) },
		"Subscriptions": func() (any, error) { return h.Store.Subscriptions(ctx, id) },
		"Payments":      func() (any, error) { return h.Store.Payments(ctx, id) },
		"Emails":        func() (any, error) { return h.Store.WorkspaceNotifications(ctx, id, 100) },
	} {
		if data[name], err = read(); err != nil {
			h.failErr(w, r, err)
			return
		}
	}
	h.render(w, r, http.StatusOK, "workspace", s, data)
}

// outboxRow is an email still owed and what an operator may do with it.
type outboxRow struct {
	billing.Notification
	// What the operator may do now (Notification.CanRetry, CanDiscard).
	CanRetry, CanDiscard bool
}

func (h *Handler) outboxPage(w http.ResponseWriter, r *http.Request, s *session) {
	unsent, err := h.Store.Notifications(r.Context(), true, 500)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	recent, err := h.Store.Notifications(r.Context(), false, 100)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	now := h.now()
	rows := make([]outboxRow, len(unsent))
	for i, n := range unsent {
		rows[i] = outboxRow{Notification: n, CanRetry: n.CanRetry(now), CanDiscard: n.CanDiscard(now)}
	}
	var done []billing.Notification // the newest sent and discarded, with why
	for _, n := range recent {
		if n.Status == billing.NotifySent || n.Status == billing.NotifyDiscarded {
			done = append(done, n)
		}
	}
	h.render(w, r, http.StatusOK, "outbox", s, map[string]any{"Unsent": rows, "Done": done, "EmailEnabled": h.EmailEnabled})
}

// operateEmail applies an operator's decision about an email still owed:
// send it again, or not at all.
func (h *Handler) operateEmail(op func(Store, context.Context, int64, time.Time) error, logMsg string) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, _ *session) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			h.fail(w, r, http.StatusNotFound, "No such email.")
			return
		}
		if err := op(h.Store, r.Context(), id, h.now()); err != nil {
			h.failErr(w, r, err)
			return
		}
		h.Logger.Info(logMsg, "notification_id", id)
		http.Redirect(w, r, "/admin/outbox", http.StatusSeeOther)
	}
}

// search finds a workspace, an object or an event by what an operator
// has at hand: a workspace id, name or email, or any Stripe id. An event
// or a workspace named by its id, or the one workspace found, is opened;
// several are listed.
func (h *Handler) search(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, q := r.Context(), strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	if !billing.ValidText(q) || len(q) > 255 {
		h.fail(w, r, http.StatusBadRequest, "Search for a workspace id, name or email, or a Stripe id: text of at most 255 bytes.")
		return
	}
	wss, evs, err := h.Store.Search(ctx, q)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	switch {
	case slices.Contains(evs, q):
		http.Redirect(w, r, "/admin/events/"+url.PathEscape(q), http.StatusSeeOther)
		return
	case slices.Contains(wss, q):
		http.Redirect(w, r, "/admin/workspaces/"+url.PathEscape(q), http.StatusSeeOther)
		return
	case len(wss) == 1:
		http.Redirect(w, r, "/admin/workspaces/"+url.PathEscape(wss[0]), http.StatusSeeOther)
		return
	}
	var states []billing.WorkspaceState
	for _, id := range wss {
		st, err := h.Store.WorkspaceState(ctx, id)
		if err != nil {
			h.failErr(w, r, err)
			return
		}
		states = append(states, *st)
	}
	var events []billing.Event
	for _, id := range evs {
		e, err := h.Store.Event(ctx, id)
		if err != nil {
			h.failErr(w, r, err)
			return
		}
		events = append(events, *e)
	}
	h.render(w, r, http.StatusOK, "search", s, map[string]any{"Q": q, "Workspaces": states, "Events": events})
}
