package loader

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestOutboxPruneKeepsUnsentAndRecent: sent notifications older than
// OUTBOX_RETENTION are deleted; one sent more recently stays, and so does
// every unsent one however old, which the same pass then delivers. The
// prune runs at most once per interval, and loader_deliveries is never
// touched.
func TestOutboxPruneKeepsUnsentAndRecent(t *testing.T) {
	e := newEnv(t)
	e.cfg.OutboxRetention = 7 * 24 * time.Hour
	e.put("dbo/customers/LOAD00000001.csv", "1,ann,a@example.com")
	e.put("dbo/items/LOAD00000001.csv", "1,1,SKU-1,1")
	e.put("dbo/orders/LOAD00000001.csv", "1,a,1.00,,1")
	if res, err := e.pass(); err != nil || res.Applied != 3 {
		t.Fatalf("first pass = %+v, %v", res, err)
	}
	if n := len(e.msgs.wait(3)); n != 3 {
		t.Fatalf("%d notifications, want 3", n)
	}
	// Two more deliveries whose notifications wait in the outbox, as
	// while NATS is down.
	e.put("dbo/orders/20240101-120000000.csv", "I,2,b,2.00,,2")
	e.put("dbo/orders/20240101-130000000.csv", "I,3,c,3.00,,3")
	if res, err := e.loaderOn(e.pool, false).Pass(e.ctx); err != nil || res.Applied != 2 {
		t.Fatalf("pass without NATS = %+v, %v", res, err)
	}
	if got := e.query(`SELECT string_agg(delivery_id::text || ':' || (sent_at IS NOT NULL)::text, ',' ORDER BY delivery_id) FROM loader_outbox`); got != "1:true,2:true,3:true,4:false,5:false" {
		t.Fatalf("outbox (delivery:sent) = %s", got)
	}
	// Age the rows: 1 and 2 were sent 8 days ago, 3 six days ago; the
	// unsent 4 and 5 were written 30 days ago.
	if _, err := e.pool.Exec(e.ctx, `
		UPDATE loader_outbox SET created_at = now() - interval '30 days',
		       sent_at = CASE WHEN delivery_id IN (1, 2) THEN now() - interval '8 days'
		                      WHEN delivery_id = 3 THEN now() - interval '6 days' END`); err != nil {
		t.Fatal(err)
	}

	l := e.loader()
	clock := time.Now()
	l.now = func() time.Time { return clock }
	if _, err := l.Pass(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.query(`SELECT string_agg(delivery_id::text || ':' || (sent_at IS NOT NULL)::text, ',' ORDER BY delivery_id) FROM loader_outbox`); got != "3:true,4:true,5:true" {
		t.Fatalf("outbox after the prune (delivery:sent) = %s; want 1 and 2 gone, 3 kept, 4 and 5 kept and sent", got)
	}
	if got := testutil.ToFloat64(e.m.OutboxPruned); got != 2 {
		t.Fatalf("outbox_pruned_total = %v, want 2", got)
	}
	msgs := e.msgs.wait(5)
	if len(msgs) != 5 {
		t.Fatalf("%d notifications, want 5: the two that waited are delivered, each once", len(msgs))
	}
	for i, want := range []string{"paper-engine.orders.delivery.4", "paper-engine.orders.delivery.5"} {
		if got := msgs[3+i].Header.Get("Nats-Msg-Id"); got != want {
			t.Errorf("notification %d has Nats-Msg-Id %q, want %q", 4+i, got, want)
		}
	}

	// Delivery 3 ages past the retention, but the last prune was just
	// now: the next pass leaves it; one an interval later removes it.
	if _, err := e.pool.Exec(e.ctx, `UPDATE loader_outbox SET sent_at = now() - interval '9 days' WHERE delivery_id = 3`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Pass(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.query(`SELECT string_agg(delivery_id::text, ',' ORDER BY delivery_id) FROM loader_outbox`); got != "3,4,5" {
		t.Fatalf("outbox after a second pass within the interval = %s, want 3,4,5 (no prune yet)", got)
	}
	clock = clock.Add(DefaultPruneEvery + time.Minute)
	if _, err := l.Pass(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.query(`SELECT string_agg(delivery_id::text, ',' ORDER BY delivery_id) FROM loader_outbox`); got != "4,5" {
		t.Fatalf("outbox an interval later = %s, want 4,5", got)
	}
	if got := testutil.ToFloat64(e.m.OutboxPruned); got != 3 {
		t.Fatalf("outbox_pruned_total = %v, want 3", got)
	}
	if got := e.query(`SELECT count(*)::text FROM loader_deliveries`); got != "5" {
		t.Fatalf("loader_deliveries has %s rows, want all 5 kept (they are the markers)", got)
	}
	if n := len(e.msgs.wait(6)); n != 5 {
		t.Fatalf("%d notifications, want still 5: nothing resent", n)
	}
}
