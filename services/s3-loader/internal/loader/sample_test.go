package loader

import (
	"strings"
	"testing"

	"tributary.dev/services/s3-loader/internal/dms"
	"tributary.dev/services/s3-loader/sample"
)

// TestSampleDeliveriesLoad loads the files `make run` seeds, so a
// newcomer's first run shows deliveries applied and notifications sent,
// never a bad-input error.
func TestSampleDeliveriesLoad(t *testing.T) {
	e := newEnv(t)
	e.cfg.Settings.AddColumnName = true // as sample.Env declares
	e.cfg.Settings.DatePartition = dms.DatePartition{Enabled: true, Sequence: "YYYYMMDD", Delimiter: "SLASH"}
	if len(sample.Env) != 2 {
		t.Fatalf("sample.Env = %v; keep this test's settings in step with it", sample.Env)
	}
	if _, err := e.pool.Exec(e.ctx, "DROP TABLE orders, customers, items;"+sample.SchemaSQL); err != nil {
		t.Fatal(err)
	}
	e.bucket.Path = sample.Path
	for _, f := range sample.Deliveries() {
		key := f.Key
		if f.Gzip != strings.HasSuffix(key, ".gz") {
			t.Fatalf("%s: Gzip = %v disagrees with its name", key, f.Gzip)
		}
		e.put(key, strings.TrimSuffix(f.Body, "\n"))
	}
	res, err := e.pass()
	if err != nil || res.Applied != len(sample.Deliveries()) {
		t.Fatalf("pass = %+v, %v; want all %d sample files applied", res, err, len(sample.Deliveries()))
	}
	if got := e.query(`SELECT order_id::text, status FROM orders ORDER BY 1`); got != "1001|FILLED\n1003|FILLED\n1004|CANCELLED" {
		t.Fatalf("orders:\n%s", got)
	}
	if got := e.query(`SELECT order_id::text, line::text, sku FROM order_items ORDER BY 1, 2`); got != "1001|1|SKU-RED\n1001|2|SKU-BLUE\n1003|1|SKU-RED\n1004|1|SKU-BLUE" {
		t.Fatalf("order_items:\n%s", got)
	}
	if n := len(e.msgs.wait(len(sample.Deliveries()))); n != len(sample.Deliveries()) {
		t.Fatalf("%d notifications, want one per sample file", n)
	}
}
