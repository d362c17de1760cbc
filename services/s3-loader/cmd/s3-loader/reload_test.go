package main

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// reload runs `s3-loader reload` with args and returns its output; want
// says whether it must succeed.
func (e *procEnv) reload(want bool, args ...string) string {
	e.t.Helper()
	c := e.cmd()
	c.Args = append([]string{binary, "reload"}, args...)
	out, err := c.CombinedOutput()
	if (err == nil) != want {
		e.t.Fatalf("s3-loader reload %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (e *procEnv) rewrite(key, body string) {
	e.t.Helper()
	if err := e.store.Delete(e.ctx, e.bucket.Join(key)); err != nil {
		e.t.Fatal(err)
	}
	e.put(key, []byte(body))
}

// cdcName is a CDC file name stamped t, as DMS names them.
func cdcName(t time.Time) string {
	return strings.Replace(t.UTC().Format("20060102-150405.000"), ".", "", 1) + ".csv"
}

// TestDMSReload: DMS reloads a table by writing its LOAD files again with
// a new snapshot. The loader sees the rewrite by ETag and size and stops
// the table; `s3-loader reload` (the runbook's procedure, once DMS is
// done) empties it and starts its next generation, and the next pass
// loads the new snapshot and only the changes stamped after it: old
// change files, applied or not, are not replayed over it. Earlier
// deliveries stay recorded with their notifications. A file of the old
// snapshot that DMS left behind makes the reload refuse.
func TestDMSReload(t *testing.T) {
	e := newProcEnv(t)
	e.put("dbo/customers/LOAD00000001.csv", []byte("1,ann\n2,ben\n"))
	e.put("dbo/customers/LOAD00000002.csv", []byte("3,cid\n"))
	e.put("dbo/customers/20240101-120000000.csv", []byte("U,1,anna\n"))
	e.run()
	customers := func() string {
		return e.scalar(`SELECT string_agg(customer_id || ':' || name, ',' ORDER BY customer_id) FROM customers`)
	}
	if got := customers(); got != "1:anna,2:ben,3:cid" {
		t.Fatalf("customers = %s", got)
	}

	// The reload: the new snapshot, a change of the old stream the
	// loader had not applied yet, and a change made after the reload.
	e.put("dbo/customers/20240101-130000000.csv", []byte("D,2,ben\n"))
	time.Sleep(1100 * time.Millisecond) // LastModified has whole seconds
	// Same sizes as the first snapshot's files: only the ETags differ.
	e.rewrite("dbo/customers/LOAD00000001.csv", "1,amy\n2,bob\n")
	e.rewrite("dbo/customers/LOAD00000002.csv", "4,dee\n")
	e.put("dbo/customers/"+cdcName(time.Now().Add(2*time.Second)), []byte("U,4,dee v3\n"))

	out := e.runFail()
	if !strings.Contains(out, "dms/dbo/customers/LOAD00000001.csv") || !strings.Contains(out, "DMS reloaded the table") || !strings.Contains(out, "s3-loader reload dbo.customers") {
		t.Fatalf("the rewritten LOAD file is not reported as a reload:\n%s", out)
	}
	if got := customers(); got != "1:anna,2:ben,3:cid" {
		t.Fatalf("customers = %s; nothing may change before the reload", got)
	}

	out = e.reload(true, "--note", "DMS task reloaded customers", "dbo.customers")
	if !strings.Contains(out, "dbo.customers: public.customers emptied; generation 2: 2 full-load files") {
		t.Fatalf("reload said:\n%s", out)
	}
	e.run()
	if got := customers(); got != "1:amy,2:bob,4:dee v3" {
		t.Fatalf("customers = %s; want the new snapshot and the change after it, and no old change replayed", got)
	}
	if got := e.scalar(`SELECT string_agg(generation || ':' || split_part(key, 'customers/', 2), ',' ORDER BY id) FROM loader_deliveries`); !strings.HasPrefix(got, "1:LOAD00000001.csv,1:LOAD00000002.csv,1:20240101-120000000.csv,2:LOAD00000001.csv,2:LOAD00000002.csv,2:") || strings.Count(got, ",") != 5 {
		t.Fatalf("deliveries (generation:file) = %s", got)
	}
	if got := e.scalar(`SELECT count(*) || '|' || count(*) FILTER (WHERE sent_at IS NOT NULL) FROM loader_outbox`); got != "6|6" {
		t.Fatalf("outbox (rows|sent) = %s; the first generation's notifications stay", got)
	}
	if n := e.notifications(); n != 6 {
		t.Fatalf("%d notifications, want 6", n)
	}
	if got := e.scalar(`SELECT generation || '|' || reload_note FROM loader_tables`); got != "2|DMS task reloaded customers" {
		t.Fatalf("loader_tables = %s", got)
	}

	// DMS left a file of the old snapshot behind: the new full load has
	// one file, the old had two.
	e.put("dbo/items/LOAD00000001.csv", []byte("1,1,a\n"))
	e.put("dbo/items/LOAD00000002.csv", []byte("1,2,b\n"))
	e.run()
	time.Sleep(1100 * time.Millisecond)
	e.rewrite("dbo/items/LOAD00000001.csv", "1,1,a v2\n")
	out = e.reload(false, "dbo.items")
	if !strings.Contains(out, "dms/dbo/items/LOAD00000002.csv") || !strings.Contains(out, "old snapshot") {
		t.Fatalf("the reload does not name the file left behind:\n%s", out)
	}
	if got := e.scalar(`SELECT count(*) FROM items`); got != "2" {
		t.Fatalf("a refused reload emptied items (%s rows)", got)
	}
	if err := e.store.Delete(e.ctx, e.bucket.Join("dbo/items/LOAD00000002.csv")); err != nil {
		t.Fatal(err)
	}
	e.reload(true, "dbo.items")
	e.run()
	if got := e.scalar(`SELECT string_agg(line || ':' || sku, ',' ORDER BY line) FROM items`); got != "1:a v2" {
		t.Fatalf("items = %s", got)
	}
}

// TestParentAndChildOutOfOrder: DMS writes each table's files on its own
// schedule, so a child's rows can arrive before the parent rows they
// reference. A foreign-key violation is a table waiting, not bad input:
// it is retried in the same pass once the parent has loaded, or at a
// later pass when the parent's file has not arrived yet, and
// ON_BAD_FILE=skip never drops it. Reloading the parent alone is refused
// (its child would point nowhere); the two together reload.
func TestParentAndChildOutOfOrder(t *testing.T) {
	e := newProcEnv(t)
	if _, err := e.pool.Exec(e.ctx, `
		CREATE TABLE zones (zone_id int PRIMARY KEY, name text);
		CREATE TABLE addresses (address_id int PRIMARY KEY, zone_id int NOT NULL REFERENCES zones, street text)`); err != nil {
		t.Fatal(err)
	}
	// "addresses" sorts before "zones": the child comes first.
	e.put("dbo/addresses/LOAD00000001.csv", []byte("1,10,main st\n"))
	e.put("dbo/zones/LOAD00000001.csv", []byte("10,north\n"))
	out := e.run()
	if !strings.Contains(out, "waits for another table's rows") {
		t.Fatalf("the child did not wait for its parent:\n%s", out)
	}
	if got := e.scalar(`SELECT string_agg(table_name, ',' ORDER BY id) FROM loader_deliveries`); got != "zones,addresses" {
		t.Fatalf("applied %s; want the parent, then the child in the same pass", got)
	}

	// A change of the child whose parent row comes in a file not there
	// yet. Changes are stamped after the full load, as DMS stamps them.
	time.Sleep(1100 * time.Millisecond)
	childKey := "dbo/addresses/" + cdcName(time.Now())
	e.put(childKey, []byte("I,2,20,side st\n"))
	out = e.runFail("ON_BAD_FILE=skip")
	if !strings.Contains(out, "dms/"+childKey) || !strings.Contains(out, "waiting for rows of another table (foreign key)") {
		t.Fatalf("the wait is not reported:\n%s", out)
	}
	if got := e.scalar(`SELECT count(*) FILTER (WHERE status = 'skipped') || '|' || (SELECT count(*) FROM addresses) FROM loader_deliveries`); got != "0|1" {
		t.Fatalf("(skipped|addresses) = %s; a wait is never skipped, nor half applied", got)
	}
	e.put("dbo/zones/"+cdcName(time.Now().Add(time.Second)), []byte("I,20,south\n"))
	e.run()
	if got := e.scalar(`SELECT string_agg(address_id || ':' || zone_id, ',' ORDER BY address_id) FROM addresses`); got != "1:10,2:20" {
		t.Fatalf("addresses = %s", got)
	}

	out = e.reload(false, "dbo.zones")
	if !strings.Contains(out, "addresses") || !strings.Contains(out, "reload the referencing tables in the same command") {
		t.Fatalf("reloading the parent alone is not refused by name:\n%s", out)
	}
	if got := e.scalar(`SELECT (SELECT count(*) FROM zones) || '|' || (SELECT count(*) FROM addresses)`); got != "2|2" {
		t.Fatalf("a refused reload emptied tables (zones|addresses = %s)", got)
	}
	e.reload(true, "dbo.zones", "dbo.addresses")
	e.run()
	if got := e.scalar(`SELECT (SELECT string_agg(zone_id || ':' || name, ',' ORDER BY zone_id) FROM zones) || ' ' || (SELECT string_agg(address_id || ':' || zone_id, ',' ORDER BY address_id) FROM addresses)`); got != "10:north,20:south 1:10,2:20" {
		t.Fatalf("after reloading both (same snapshot, every change since): %s", got)
	}
}

// TestNotificationMarkedSentOnlyWhenStored: notifications go through
// JetStream and an outbox row is marked sent only on the stream's
// acknowledgement. A stream that refuses a message (full, here) leaves
// its row waiting, and the next pass sends it once the stream takes it.
func TestNotificationMarkedSentOnlyWhenStored(t *testing.T) {
	e := newProcEnv(t)
	js, err := jetstream.New(mustNATS(t, e.nats))
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.stream.CachedInfo().Config
	cfg.MaxMsgs, cfg.Discard = 1, jetstream.DiscardNew
	if _, err := js.UpdateStream(e.ctx, cfg); err != nil {
		t.Fatal(err)
	}
	e.put("dbo/customers/LOAD00000001.csv", []byte("1,ann\n"))
	e.put("dbo/customers/20240101-120000000.csv", []byte("U,1,anna\n"))
	out := e.run()
	if got := e.scalar(`SELECT string_agg(delivery_id || ':' || (sent_at IS NOT NULL), ',' ORDER BY delivery_id) FROM loader_outbox`); got != "1:true,2:false" {
		t.Fatalf("outbox (delivery:sent) = %s; the refused notification must wait:\n%s", got, out)
	}
	if !strings.Contains(out, "notifications wait in the outbox") {
		t.Fatalf("the refusal is not logged:\n%s", out)
	}
	cfg.MaxMsgs = -1
	if _, err := js.UpdateStream(e.ctx, cfg); err != nil {
		t.Fatal(err)
	}
	e.run()
	if got := e.scalar(`SELECT string_agg(delivery_id || ':' || (sent_at IS NOT NULL), ',' ORDER BY delivery_id) FROM loader_outbox`); got != "1:true,2:true" {
		t.Fatalf("outbox (delivery:sent) = %s after the stream has room", got)
	}
	if n := e.notifications(); n != 2 {
		t.Fatalf("%d notifications stored, want 2", n)
	}
}

// TestStatementTimeoutInTarget: SQL_TIMEOUT is every connection's
// statement timeout, applied after TARGET's options; a statement_timeout
// there would be silently replaced, so it is refused, naming both.
func TestStatementTimeoutInTarget(t *testing.T) {
	e := newProcEnv(t)
	c := exec.Command(binary)
	c.Env = []string{"SOURCE=" + e.bucket.Raw(), "NOTIFICATIONS=false", "METRICS_ADDR=",
		fmt.Sprintf("TARGET=%s options='-c statement_timeout=1000'", strings.TrimSpace(e.dsn))}
	if strings.HasPrefix(e.dsn, "postgres") {
		c.Env[len(c.Env)-1] = "TARGET=" + e.dsn + "&options=-c%20statement_timeout%3D1000"
		if !strings.Contains(e.dsn, "?") {
			c.Env[len(c.Env)-1] = "TARGET=" + e.dsn + "?options=-c%20statement_timeout%3D1000"
		}
	}
	out, err := c.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "TARGET: its options set statement_timeout, which SQL_TIMEOUT replaces") {
		t.Fatalf("err = %v, output:\n%s", err, out)
	}
}

func mustNATS(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}
