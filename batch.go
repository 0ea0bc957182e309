package billing

import (
	"context"
	"sync"
	"sync/atomic"
)

// Group commit. A durable commit costs an fsync (SQLite) or a WAL flush and
// a round trip (PostgreSQL); when many events arrive at once, paying it once
// per event caps throughput at the disk's flush rate. Writers therefore take
// every event queued at that moment into one transaction, each event in a
// savepoint of its own so that one failure fails no other, commit once, and
// only then answer each waiting request.

type request struct {
	ctx    context.Context
	e      *Event
	force  bool
	status EventStatus
	err    error
	done   chan struct{}
}

type batcher struct {
	s        *Service
	queue    chan *request
	maxBatch int
	wg       sync.WaitGroup
	// Transactions run and the events they held, for BatchStats.
	batches, events atomic.Int64
	// turn is held by the writer gathering and applying a batch. It passes
	// on once that batch's commit is on its way to the database, so the next
	// batch takes what queued meanwhile: the writers overlap their waits for
	// the disk, not their batches, which stay as large as one writer's.
	turn chan struct{}
}

// BatchStats reports how many shared transactions the writers ran and how
// many events they held, since StartBatching; zero without batching.
func (s *Service) BatchStats() (batches, events int64) {
	if s.batch == nil {
		return 0, 0
	}
	return s.batch.batches.Load(), s.batch.events.Load()
}

// StartBatching starts writers goroutines that apply queued events in
// shared transactions of up to maxBatch events. stop waits for the queue to
// drain; Process must not be called after it.
func (s *Service) StartBatching(writers, maxBatch int) (stop func()) {
	b := &batcher{s: s, queue: make(chan *request, 4*maxBatch), maxBatch: maxBatch, turn: make(chan struct{}, 1)}
	for range max(writers, 1) {
		b.wg.Add(1)
		go b.write()
	}
	s.batch = b
	return func() {
		close(b.queue)
		b.wg.Wait()
	}
}

// process queues e and waits until its transaction committed or failed, or
// ctx ends; an event whose caller gave up is still applied.
func (b *batcher) process(ctx context.Context, e *Event, force bool) (EventStatus, error) {
	r := &request{ctx: context.WithoutCancel(ctx), e: e, force: force, done: make(chan struct{})}
	select {
	case b.queue <- r:
	case <-ctx.Done():
		return "", Errorf(EUNAVAILABLE, "timed out waiting for the database: %v", ctx.Err())
	}
	select {
	case <-r.done:
		return r.status, r.err
	case <-ctx.Done():
		return "", Errorf(EUNAVAILABLE, "timed out waiting for the database: %v", ctx.Err())
	}
}

func (b *batcher) write() {
	defer b.wg.Done()
	for {
		b.turn <- struct{}{}
		r, ok := <-b.queue
		if !ok {
			<-b.turn
			return
		}
		batch := []*request{r}
	fill:
		for len(batch) < b.maxBatch {
			select {
			case r, ok := <-b.queue:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		pass := sync.OnceFunc(func() { <-b.turn })
		b.run(batch, pass)
		pass()
	}
}

// run applies a batch in one transaction. An event that fails in it, or a
// batch whose commit fails, is applied again alone, with the store's own
// retries, before it is answered as failed.
//
// The batch locks every object its events touch, and their ids, before it
// applies any: concurrent batches (PostgreSQL runs several writers) then
// take their locks in one global order and cannot deadlock, which they
// would if each event locked its objects in turn.
func (b *batcher) run(batch []*request, sent func()) {
	fns := make([]func(Tx) error, len(batch))
	needs := &Needs{Sent: sent}
	for i, r := range batch {
		needs.add(r.e)
		fns[i] = func(tx Tx) (err error) {
			r.status, r.err = b.s.applyIn(r.ctx, tx, r.e, r.force)
			return r.err
		}
	}
	b.batches.Add(1)
	b.events.Add(int64(len(batch)))
	if b.s.OnBatch != nil {
		b.s.OnBatch(len(batch))
	}
	errs := b.s.Store.InBatch(context.Background(), needs, fns)
	for i, r := range batch {
		if errs[i] != nil {
			r.status, r.err = b.s.processAlone(r.ctx, r.e, r.force)
		}
		close(r.done)
	}
}

// Needs is what a batch of events will lock and read, named before any of
// them runs, so that a store can take the locks and read the rows in one
// round trip (see Store.InBatch). It only saves time: a row it left out is
// read when a rule asks for it.
type Needs struct {
	Locks []string
	// Sent, when set, is called once the batch's commit is on its way, if
	// the store can tell: the next batch may start then.
	Sent func()
	// Rows by id, and the ledger entries and messages by key.
	Events, Workspaces, Customers, Subscriptions, Invoices, Payments []string
	CheckoutSessions, Refunds, Disputes                              []string
	LedgerKeys, MessageKeys                                          []string
}

// add names what e's rules read: its object and the ones it belongs to,
// and the keys of the grants and messages it may cause. A store reads with
// them the workspaces of those customers, their subscriptions, pending
// grants and current lots.
func (n *Needs) add(e *Event) {
	n.Locks = append(append(n.Locks, e.ID), lockKeys(e.Object)...)
	n.Events = append(n.Events, e.ID)
	grants := func(keys ...string) {
		for _, k := range keys {
			n.LedgerKeys = append(n.LedgerKeys, k, expireKey(k))
		}
	}
	switch o := e.Object.(type) {
	case *CheckoutSession:
		n.Workspaces = append(n.Workspaces, o.Metadata[MetadataWorkspaceID], o.ClientReferenceID)
		n.Customers = append(n.Customers, o.CustomerID)
		n.Subscriptions = append(n.Subscriptions, o.SubscriptionID)
		n.Payments = append(n.Payments, o.PaymentIntentID)
		n.CheckoutSessions = append(n.CheckoutSessions, o.ID)
		grants(purchaseKey(o.ID), purchaseKey(o.PaymentIntentID), firstPeriodKey(o.SubscriptionID))
	case *Subscription:
		n.Workspaces = append(n.Workspaces, o.Metadata[MetadataWorkspaceID])
		n.Customers = append(n.Customers, o.CustomerID)
		n.Subscriptions = append(n.Subscriptions, o.ID)
		grants(firstPeriodKey(o.ID), subscriptionEndKey(o.ID))
		n.MessageKeys = append(n.MessageKeys, trialKey(o.ID, o.TrialEnd))
	case *Invoice:
		n.Workspaces = append(n.Workspaces, o.Metadata[MetadataWorkspaceID], o.SubscriptionMetadata[MetadataWorkspaceID])
		n.Customers = append(n.Customers, o.CustomerID)
		n.Subscriptions = append(n.Subscriptions, o.SubscriptionID)
		n.Invoices = append(n.Invoices, o.ID)
		grants(renewalKey(o.ID), firstPeriodKey(o.SubscriptionID))
		n.MessageKeys = append(n.MessageKeys, attemptKey(MsgInvoicePaymentFailed, o.ID, o.AttemptCount))
	case *Payment:
		n.Workspaces = append(n.Workspaces, o.Metadata[MetadataWorkspaceID])
		n.Customers = append(n.Customers, o.CustomerID)
		n.Invoices = append(n.Invoices, o.InvoiceID)
		n.Payments = append(n.Payments, o.ID)
		grants(purchaseKey(o.ID))
		n.MessageKeys = append(n.MessageKeys, joinKey(MsgPaymentFailed, o.ID, e.ID))
	case *Charge:
		n.Workspaces = append(n.Workspaces, o.Metadata[MetadataWorkspaceID])
		n.Customers = append(n.Customers, o.CustomerID)
		n.Payments = append(n.Payments, o.PaymentIntentID)
		grants(purchaseKey(o.PaymentIntentID), refundKey(o.PaymentIntentID, o.AmountRefunded))
	case *Refund:
		id := coalesce(o.PaymentIntentID, o.ChargeID)
		n.Payments = append(n.Payments, id)
		n.Refunds = append(n.Refunds, o.ID)
		grants(purchaseKey(id))
	case *Dispute:
		id := coalesce(o.PaymentIntentID, o.ChargeID)
		n.Payments = append(n.Payments, id)
		n.Disputes = append(n.Disputes, o.ID)
		grants(purchaseKey(id), disputeKey(id))
	case *Customer:
		n.Workspaces = append(n.Workspaces, o.Metadata[MetadataWorkspaceID])
		n.Customers = append(n.Customers, o.ID)
	case *DiscountChange:
		n.Customers = append(n.Customers, o.CustomerID)
		n.Subscriptions = append(n.Subscriptions, o.SubscriptionID)
	case *InvoicePayment:
		n.Invoices = append(n.Invoices, o.InvoiceID)
		n.Payments = append(n.Payments, o.PaymentIntentID)
	}
}

// ProcessAll applies events as one group commit, the way concurrent
// Process calls share one once batching is started, and returns each
// one's status and error. It is for callers that hold many events at once:
// tests and benchmarks of the group commit itself.
func (s *Service) ProcessAll(ctx context.Context, es []*Event) ([]EventStatus, []error) {
	statuses, errs := make([]EventStatus, len(es)), make([]error, len(es))
	var batch []*request
	for i, e := range es {
		e.ReceivedAt = s.now()
		if err := s.Decoder.Decode(e); err != nil {
			statuses[i], errs[i] = s.fail(ctx, e, err)
			continue
		}
		batch = append(batch, &request{ctx: ctx, e: e, done: make(chan struct{})})
	}
	(&batcher{s: s}).run(batch, nil)
	for i, j := 0, 0; i < len(es); i++ {
		if errs[i] == nil && statuses[i] == "" {
			statuses[i], errs[i] = batch[j].status, batch[j].err
			j++
		}
	}
	return statuses, errs
}
