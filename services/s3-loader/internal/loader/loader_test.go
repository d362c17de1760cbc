package loader

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"tributary.dev/services/s3-loader/internal/dms"
	"tributary.dev/services/s3-loader/internal/target"
)

const ordersSQL = `SELECT order_id::text, customer, coalesce(amount::text, 'NULL'), coalesce(to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS'), 'NULL'), coalesce(event_id::text, 'NULL') FROM orders ORDER BY order_id`

// TestFullLoadThenCDC loads three entities — gzipped and plain, with
// DMS's header rows (AddColumnName) in any case and order — then applies
// CDC files, one of them in a date folder, and checks table contents,
// counts and notifications.
func TestFullLoadThenCDC(t *testing.T) {
	e := newEnv(t)
	e.cfg.Settings.AddColumnName = true
	e.cfg.Settings.DatePartition = dms.DatePartition{Enabled: true, Sequence: "YYYYMMDD", Delimiter: "SLASH"}
	// The CDC file is uploaded first: its key sorts before LOAD…, and the
	// loader must still apply the full load first (row 3 only exists there).
	e.put("dbo/orders/20240101-120000000.csv",
		"Op,order_id,customer,amount,created_at,event_id",
		"U,3,carol,33.00,2024-01-01 11:00:00+00,103",
		"I,5,eve,50.00,2024-01-01 11:30:00+00,105",
		"U,5,eve,55.00,2024-01-01 11:31:00+00,106", // two ops on one key: the last wins, counted once
		"D,2,,,,107",
		"D,99,,,,108", // a delete of a missing key: counted apart
		"I,1,alice-again,10.50,2024-01-01 00:00:00+00,109", // I for an existing key is an amend
	)
	e.put("dbo/orders/LOAD00000001.csv.gz",
		"order_id,customer,amount,created_at,event_id",
		"1,alice,10.50,2024-01-01 00:00:00+00,1",
		"2,\"bob, jr\",,2024-01-01 00:00:01+00,2",
	)
	e.put("dbo/orders/LOAD00000002.csv",
		"ORDER_ID,CUSTOMER,AMOUNT,CREATED_AT,EVENT_ID",
		"3,carol,30.00,2024-01-01 00:00:02+00,3",
		"4,\"\",40.00,,4", // quoted empty is an empty string, unquoted empty is NULL
	)
	e.put("dbo/customers/LOAD00000001.csv",
		"CUSTOMER_ID,EMAIL,NAME", // DMS headers: other case and other order
		"10,a@example.com,Alice",
		"11,b@example.com,Bob",
	)
	e.put("dbo/items/LOAD00000001.csv.gz", "order_id,line,sku,qty", "1,1,SKU-1,2", "1,2,SKU-2,1", "2,1,SKU-3,5")
	e.put("dbo/items/2024/01/02/20240102-090000000.csv.gz", // date folder, gzip
		"Op,order_id,line,sku,qty",
		"D,1,2,SKU-2,1",
		"U,2,1,SKU-3,6",
		"I,3,1,SKU-9,1",
	)

	res, err := e.pass()
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != 6 || res.Skipped != 0 {
		t.Fatalf("pass = %+v, want 6 applied", res)
	}
	if got, want := e.query(ordersSQL), strings.Join([]string{
		"1|alice-again|10.50|2024-01-01T00:00:00|109",
		"3|carol|33.00|2024-01-01T11:00:00|103",
		"4||40.00|NULL|4",
		"5|eve|55.00|2024-01-01T11:31:00|106",
	}, "\n"); got != want {
		t.Fatalf("orders:\n%s\nwant:\n%s", got, want)
	}
	if got := e.query(`SELECT customer_id::text, name, email FROM customers ORDER BY 1`); got != "10|Alice|a@example.com\n11|Bob|b@example.com" {
		t.Fatalf("customers:\n%s", got)
	}
	if got := e.query(`SELECT order_id::text, line::text, sku, qty::text FROM items ORDER BY 1, 2`); got != "1|1|SKU-1|2\n2|1|SKU-3|6\n3|1|SKU-9|1" {
		t.Fatalf("items:\n%s", got)
	}
	// Delivery order and counts, as recorded.
	wantDeliveries := strings.Join([]string{
		"dms/dbo/customers/LOAD00000001.csv|load|2|2|0|0|0",
		"dms/dbo/items/LOAD00000001.csv.gz|load|3|3|0|0|0",
		"dms/dbo/items/2024/01/02/20240102-090000000.csv.gz|cdc|3|1|1|1|0",
		"dms/dbo/orders/LOAD00000001.csv.gz|load|2|2|0|0|0",
		"dms/dbo/orders/LOAD00000002.csv|load|2|2|0|0|0",
		"dms/dbo/orders/20240101-120000000.csv|cdc|6|1|2|1|1",
	}, "\n")
	if got := e.query(`SELECT key, kind, rows::text, created::text, amended::text, removed::text, missing::text FROM loader_deliveries ORDER BY id`); got != wantDeliveries {
		t.Fatalf("loader_deliveries:\n%s\nwant:\n%s", got, wantDeliveries)
	}
	msgs := e.msgs.wait(6)
	if len(msgs) != 6 {
		t.Fatalf("%d notifications, want one per delivery (6)", len(msgs))
	}
	last := decode(t, msgs[5])
	if got := string(last["stats"]); got != `{"orders":{"AMEND":2,"CREATE":1,"REMOVE":1}}` {
		t.Fatalf("CDC stats = %s", got)
	}
	if got := string(last["max_event_id"]); got != "109" {
		t.Fatalf("max_event_id = %s, want 109", got)
	}
	if got := string(decode(t, msgs[0])["max_event_id"]); got != "null" {
		t.Fatalf("customers has no event_id column: max_event_id = %s, want null", got)
	}
	if got := testutil.ToFloat64(e.m.Bytes); got != float64(e.plain) {
		t.Fatalf("bytes_total = %v, want every decompressed byte of the six files counted", got)
	}
	if got := testutil.ToFloat64(e.m.Rows.WithLabelValues("orders", "MISSING")); got != 1 {
		t.Fatalf("rows_total{orders,MISSING} = %v", got)
	}

	// A second pass finds nothing new and sends nothing.
	res, err = e.pass()
	if err != nil || res.Applied != 0 {
		t.Fatalf("second pass = %+v, %v; want nothing to do", res, err)
	}
	// A CDC file stamped before one already applied is refused, and the
	// table waits (ON_BAD_FILE=stop) — the newer file waits behind it.
	e.put("dbo/orders/20240101-130000000.csv", "Op,order_id,customer,amount,created_at,event_id", "D,4,,,,110")
	e.put("dbo/orders/20240101-110000000.csv", "Op,order_id,customer,amount,created_at,event_id", "D,1,,,,111")
	res, err = e.pass()
	if res.Applied != 0 || err == nil || !strings.Contains(err.Error(), "20240101-110000000.csv") || !strings.Contains(err.Error(), "older than") {
		t.Fatalf("pass = %+v, %v; want the late file reported and nothing applied", res, err)
	}
	// The operator chooses to skip it: it is recorded with its reason and
	// the newer file applies; the late delete of 1 never does.
	e.cfg.SkipBadFiles = true
	res, err = e.pass()
	if err != nil || res.Applied != 1 || res.Skipped != 1 {
		t.Fatalf("pass with skip = %+v, %v", res, err)
	}
	if got := e.query(`SELECT string_agg(order_id::text, ',' ORDER BY order_id) FROM orders`); got != "1,3,5" {
		t.Fatalf("orders after the late file: %s", got)
	}
	if got := e.query(`SELECT status FROM loader_deliveries WHERE key LIKE '%110000000%'`); got != "skipped" {
		t.Fatalf("late file recorded as %q", got)
	}
	if len(e.msgs.wait(7)) != 7 {
		t.Fatal("want exactly one more notification")
	}
}

// TestNotificationMatchesOriginal compares the JSON with the original's
// example field by field and in the original's key order.
func TestNotificationMatchesOriginal(t *testing.T) {
	e := newEnv(t)
	e.put("dbo/orders/LOAD00000001.csv", "1,a,1.00,,41", "2,b,2.00,,159967")
	if _, err := e.pass(); err != nil {
		t.Fatal(err)
	}
	msgs := e.msgs.wait(1)
	if len(msgs) != 1 {
		t.Fatalf("%d notifications", len(msgs))
	}
	original := []byte(`{"v":1,"ds":"paper-engine","id":"orders","host":"x","utcts":"2021-12-09T08:31:04.824890","stats":{"entity_1":{"AMEND":0,"CREATE":159967,"REMOVE":0}},"max_event_id":1}`)
	if got, want := keys(t, msgs[0].Data), keys(t, original); got != want {
		t.Fatalf("key order %s, want the original's %s", got, want)
	}
	f := decode(t, msgs[0])
	for k, want := range map[string]string{"v": "1", "ds": `"paper-engine"`, "id": `"orders"`, "host": `"loader-test"`,
		"stats": `{"orders":{"AMEND":0,"CREATE":2,"REMOVE":0}}`, "max_event_id": "159967"} {
		if string(f[k]) != want {
			t.Errorf("%s = %s, want %s", k, f[k], want)
		}
	}
	if !regexp.MustCompile(`^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}"$`).Match(f["utcts"]) {
		t.Errorf("utcts = %s, want the original's 2021-12-09T08:31:04.824890 form", f["utcts"])
	}
	if id := msgs[0].Header.Get(nats.MsgIdHdr); id != "paper-engine.orders.delivery.1" {
		t.Errorf("Nats-Msg-Id = %q", id)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	e := newEnv(t)
	e.cfg.DryRun = true
	e.put("dbo/orders/LOAD00000001.csv", "1,a,1.00,,1")
	e.put("dbo/orders/20240101-120000000.csv", "I,2,b,2.00,,2")
	res, err := e.pass()
	if err != nil || res.Applied != 2 || res.Rows != 2 {
		t.Fatalf("dry run = %+v, %v; want both files read and counted", res, err)
	}
	if got := e.query(`SELECT (SELECT count(*) FROM orders)::text, (SELECT count(*) FROM loader_deliveries)::text, (SELECT count(*) FROM loader_outbox)::text`); got != "0|0|0" {
		t.Fatalf("dry run persisted rows (orders|deliveries|outbox) = %s", got)
	}
	if n := len(e.msgs.wait(1)); n != 0 {
		t.Fatalf("dry run published %d notifications", n)
	}
	if got := testutil.ToFloat64(e.m.Deliveries.WithLabelValues("dry_run")); got != 2 {
		t.Fatalf("deliveries_total{dry_run} = %v", got)
	}
}

// TestBadInput feeds one bad file per case and checks the error names the
// key, line and column, nothing is applied, and the error is counted.
func TestBadInput(t *testing.T) {
	cases := []struct {
		name  string
		key   string
		lines []string
		raw   []byte
		want  []string
	}{
		// Files whose first line names the columns are read with
		// AddColumnName on; the others without.
		{"too many columns", "dbo/orders/LOAD00000001.csv", []string{"order_id,customer,amount,created_at,event_id", "1,a,1.00,,1", "2,b,2.00,,2,extra"}, nil,
			[]string{"dms/dbo/orders/LOAD00000001.csv line 3", "extra data after last expected column"}},
		{"too few columns", "dbo/orders/LOAD00000001.csv", []string{"1,a,1.00,,1", "2,b"}, nil,
			[]string{"dms/dbo/orders/LOAD00000001.csv line 2", "missing data"}},
		{"bad number", "dbo/orders/LOAD00000001.csv", []string{"1,a,1.00,,1", "2,b,two,,2"}, nil,
			[]string{"dms/dbo/orders/LOAD00000001.csv line 2 column amount", "invalid input syntax for type numeric"}},
		{"bad date in CDC", "dbo/orders/20240101-120000000.csv", []string{"Op,order_id,customer,amount,created_at,event_id", "I,1,a,1.00,,1", "I,2,b,2.00,2024-13-45,2"}, nil,
			[]string{"dms/dbo/orders/20240101-120000000.csv line 3 column created_at"}},
		{"NULL in a NOT NULL column in CDC", "dbo/orders/20240101-120000000.csv", []string{"I,1,a,1.00,,1", "U,1,b,1.00,,2", "I,2,,2.00,,3"}, nil,
			[]string{"dms/dbo/orders/20240101-120000000.csv line 3 column customer", "not-null"}},
		{"bad op", "dbo/orders/20240101-120000000.csv", []string{"I,1,a,1.00,,1", "X,2,b,2.00,,2"}, nil,
			[]string{"dms/dbo/orders/20240101-120000000.csv line 2 column Op", `"X" is not I, U or D`}},
		{"corrupt gzip", "dbo/orders/LOAD00000001.csv.gz", nil, append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, bytes.Repeat([]byte{0xde, 0xad}, 50)...),
			[]string{"dms/dbo/orders/LOAD00000001.csv.gz", "corrupt gzip"}},
		{"not gzip at all", "dbo/orders/LOAD00000001.csv.gz", nil, []byte("1,a,1.00,,1\n"),
			[]string{"dms/dbo/orders/LOAD00000001.csv.gz line 1", "corrupt gzip"}},
		{"gzip cut short mid-file", "dbo/orders/LOAD00000001.csv.gz", nil, truncatedGzip(),
			[]string{"dms/dbo/orders/LOAD00000001.csv.gz near line", "corrupt gzip"}},
		{"empty gzip", "dbo/orders/LOAD00000001.csv.gz", nil, []byte{},
			[]string{"dms/dbo/orders/LOAD00000001.csv.gz line 1", "corrupt gzip"}},
		{"unknown table", "dbo/nosuch/LOAD00000001.csv", []string{"1,a"}, nil,
			[]string{"dms/dbo/nosuch/LOAD00000001.csv", "unknown table"}},
		{"unknown header column", "dbo/orders/LOAD00000001.csv", []string{"order_id,customer,amount,created_at,nope", "1,a,1.00,,1"}, nil,
			[]string{"dms/dbo/orders/LOAD00000001.csv line 1", `"nope" is not a column`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.cfg.Settings.AddColumnName = len(c.lines) > 0 && strings.HasPrefix(c.lines[0], "order_id,") || len(c.lines) > 0 && strings.HasPrefix(c.lines[0], "Op,")
			if c.raw != nil {
				if err := e.store.Put(e.ctx, e.bucket.Join(c.key), bytes.NewReader(c.raw), int64(len(c.raw))); err != nil {
					t.Fatal(err)
				}
			} else {
				e.put(c.key, c.lines...)
			}
			_, err := e.pass()
			if err == nil || !errors.Is(err, target.ErrBadInput) {
				t.Fatalf("err = %v, want a bad-input error", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if got := e.query(`SELECT (SELECT count(*) FROM orders)::text, (SELECT count(*) FROM loader_deliveries)::text`); got != "0|0" {
				t.Fatalf("bad file left data behind (orders|deliveries) = %s", got)
			}
			if got := testutil.ToFloat64(e.m.Errors.WithLabelValues("bad_input")); got != 1 {
				t.Fatalf("errors_total{bad_input} = %v, want 1", got)
			}
			// Stop policy: the loader does not advance past it.
			if _, err := e.pass(); err == nil {
				t.Fatal("second pass went past the bad file")
			}
		})
	}
}

func TestUnsafeFolderNamesNeverReachSQL(t *testing.T) {
	e := newEnv(t)
	e.put(`dbo/orders"; DROP TABLE orders; --/LOAD00000001.csv`, "1,a,1.00,,1")
	e.put("dbo/orders/LOAD00000001.csv", "1,a,1.00,,1")
	_, err := e.pass()
	if err == nil || !strings.Contains(err.Error(), "not <schema>/<table> with plain identifiers") {
		t.Fatalf("err = %v, want the folder reported", err)
	}
	if got := e.query(`SELECT count(*)::text FROM orders`); got != "1" {
		t.Fatalf("orders has %s rows: the good table must still load", got)
	}
}

func TestSkipPolicyRecordsReasonAndMovesOn(t *testing.T) {
	e := newEnv(t)
	e.cfg.SkipBadFiles = true
	e.put("dbo/orders/LOAD00000001.csv", "1,a,1.00,,1")
	e.put("dbo/orders/20240101-120000000.csv", "I,2,b,not-a-number,,2")
	e.put("dbo/orders/20240101-130000000.csv", "I,3,c,3.00,,3")
	res, err := e.pass()
	if err != nil || res.Applied != 2 || res.Skipped != 1 {
		t.Fatalf("pass = %+v, %v; want 2 applied and 1 skipped", res, err)
	}
	if got := e.query(`SELECT string_agg(order_id::text, ',' ORDER BY order_id) FROM orders`); got != "1,3" {
		t.Fatalf("orders = %s", got)
	}
	got := e.query(`SELECT status, reason FROM loader_deliveries WHERE key LIKE '%120000000%'`)
	if !strings.HasPrefix(got, "skipped|dms/dbo/orders/20240101-120000000.csv line 1 column amount") {
		t.Fatalf("skipped row = %q", got)
	}
	if n := len(e.msgs.wait(2)); n != 2 {
		t.Fatalf("%d notifications, want 2 (none for the skipped file)", n)
	}
}

// TestLateFullLoadRefused: a full-load file that appears after changes
// were applied would put snapshot rows over newer ones: DMS reloaded the
// table. It stops the table, naming the reload command, and nothing of it
// is applied.
func TestLateFullLoadRefused(t *testing.T) {
	e := newEnv(t)
	e.put("dbo/orders/LOAD00000001.csv", "1,a,1.00,,1")
	e.put("dbo/orders/20240101-120000000.csv", "U,1,changed,1.00,,2")
	if res, err := e.pass(); err != nil || res.Applied != 2 {
		t.Fatalf("pass = %+v, %v", res, err)
	}
	e.put("dbo/orders/LOAD00000002.csv", "1,stale,1.00,,1")
	res, err := e.pass()
	if err == nil || !errors.Is(err, ErrReloaded) || !strings.Contains(err.Error(), "LOAD00000002.csv") || !strings.Contains(err.Error(), "s3-loader reload dbo.orders") || res.Applied != 0 {
		t.Fatalf("pass = %+v, %v; want the late full-load file reported", res, err)
	}
	if got := e.query(`SELECT customer FROM orders WHERE order_id = 1`); got != "changed" {
		t.Fatalf("order 1 customer = %q, want the CDC change kept", got)
	}
}

// TestDuplicateKeysInFullLoad: a key twice in one full-load file is bad
// input, whether the table was empty (COPY meets the primary key) or not
// (the merge cannot apply two rows to one key).
func TestDuplicateKeysInFullLoad(t *testing.T) {
	for _, first := range []bool{true, false} {
		e := newEnv(t)
		key := "dbo/orders/LOAD00000001.csv"
		if !first {
			e.put(key, "9,z,9.00,,9")
			if _, err := e.pass(); err != nil {
				t.Fatal(err)
			}
			key = "dbo/orders/LOAD00000002.csv"
		}
		e.put(key, "1,a,1.00,,1", "2,b,2.00,,2", "2,c,3.00,,3")
		_, err := e.pass()
		if err == nil || !errors.Is(err, target.ErrBadInput) || !strings.Contains(err.Error(), "dms/"+key) {
			t.Fatalf("empty table %v: err = %v, want bad input naming %s", first, err, key)
		}
		if got := e.query(`SELECT string_agg(order_id::text, ',' ORDER BY order_id) FROM orders`); (first && got != "NULL") || (!first && got != "9") {
			t.Fatalf("empty table %v: orders = %s; nothing of the bad file may be applied", first, got)
		}
	}
}

func TestCustomNullValue(t *testing.T) {
	e := newEnv(t)
	e.cfg.Settings.CsvNullValue = "\\N"
	// With \N meaning NULL, an empty field is an empty string.
	e.put("dbo/orders/LOAD00000001.csv", `1,,\N,\N,1`)
	if _, err := e.pass(); err != nil {
		t.Fatal(err)
	}
	if got := e.query(`SELECT '[' || customer || ']|' || coalesce(amount::text, 'NULL') || '|' || coalesce(created_at::text, 'NULL') FROM orders`); got != "[]|NULL|NULL" {
		t.Fatalf("row = %s", got)
	}
}

// truncatedGzip is a gzipped full load cut off at 80% of its bytes: far
// past the first read, so the decompressor fails while COPY streams.
func truncatedGzip() []byte {
	var plain bytes.Buffer
	for i := 1; i <= 100_000; i++ {
		fmt.Fprintf(&plain, "%d,customer-%d,%d.00,,%d\n", i, i%977, i%1000, i)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(plain.Bytes())
	zw.Close()
	return b.Bytes()[:b.Len()*8/10]
}

func decode(t *testing.T, m *nats.Msg) map[string]json.RawMessage {
	t.Helper()
	var f map[string]json.RawMessage
	if err := json.Unmarshal(m.Data, &f); err != nil {
		t.Fatalf("notification %s: %v", m.Data, err)
	}
	return f
}

// keys lists the top-level keys of a JSON object in document order.
func keys(t *testing.T, data []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var ks []string
	for dec.More() {
		k, _ := dec.Token()
		ks = append(ks, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return strings.Join(ks, ",")
}

// TestNotificationIdentityFromConfig: NOTIFY_DS and NOTIFY_ID are the
// operator's to set, and what the loader then sends still keeps the
// subject's schema (which once allowed only the defaults).
func TestNotificationIdentityFromConfig(t *testing.T) {
	e := newEnv(t)
	e.notify.DS, e.notify.ID = "paper-engine-eu", "orders-eu"
	e.put("dbo/orders/LOAD00000001.csv", "1,a,1.00,,7")
	if _, err := e.pass(); err != nil {
		t.Fatal(err)
	}
	msgs := e.msgs.wait(1) // checked against the schema here
	if len(msgs) != 1 {
		t.Fatalf("%d notifications, want 1", len(msgs))
	}
	f := decode(t, msgs[0])
	if string(f["ds"]) != `"paper-engine-eu"` || string(f["id"]) != `"orders-eu"` {
		t.Fatalf("ds, id = %s, %s", f["ds"], f["id"])
	}
	if id := msgs[0].Header.Get(nats.MsgIdHdr); id != "paper-engine-eu.orders-eu.delivery.1" {
		t.Errorf("Nats-Msg-Id = %q", id)
	}
}

// TestMaxEventIDNotANumber: a floating-point EVENT_ID_COLUMN is numeric,
// so its maximum goes out as a JSON number — except NaN and Infinity,
// which PostgreSQL stores and JSON cannot write as numbers. They go out
// as strings (which the schema allows) instead of failing the delivery
// for ever in building its notification.
func TestMaxEventIDNotANumber(t *testing.T) {
	e := newEnv(t)
	if _, err := e.pool.Exec(e.ctx, `CREATE TABLE public.readings (id int PRIMARY KEY, event_id double precision)`); err != nil {
		t.Fatal(err)
	}
	e.put("dbo/readings/LOAD00000001.csv", "1,1.5e+20", "2,-3")
	e.put("dbo/readings/20240101-120000000.csv", "I,3,NaN", "I,4,2")
	e.put("dbo/readings/20240101-130000000.csv", "I,5,-Infinity")
	res, err := e.pass()
	if err != nil || res.Applied != 3 {
		t.Fatalf("pass = %+v, %v; want all three deliveries applied", res, err)
	}
	msgs := e.msgs.wait(3)
	if len(msgs) != 3 {
		t.Fatalf("%d notifications, want 3", len(msgs))
	}
	for i, want := range []string{"1.5e+20", `"NaN"`, `"-Infinity"`} {
		if got := string(decode(t, msgs[i])["max_event_id"]); got != want {
			t.Errorf("delivery %d: max_event_id = %s, want %s", i+1, got, want)
		}
	}
	if got := e.query(`SELECT count(*)::text FROM readings`); got != "5" {
		t.Fatalf("readings has %s rows, want 5", got)
	}
}

// TestTwoFullLoadFilesOfOneNumber: LOAD00000001.csv and .csv.gz both
// there is not a full load the loader can order: the table stops, naming
// the second, and nothing of it is applied.
func TestTwoFullLoadFilesOfOneNumber(t *testing.T) {
	e := newEnv(t)
	e.put("dbo/orders/LOAD00000001.csv", "1,a,1.00,,1")
	e.put("dbo/orders/LOAD00000001.csv.gz", "2,b,2.00,,2")
	res, err := e.pass()
	if err == nil || !strings.Contains(err.Error(), "dms/dbo/orders/LOAD00000001.csv.gz") || !strings.Contains(err.Error(), "a second full-load file numbered 1") || res.Halted != 1 {
		t.Fatalf("pass = %+v, %v", res, err)
	}
	if got := e.query(`SELECT count(*)::text FROM orders`); got != "0" {
		t.Fatalf("orders holds %s rows", got)
	}
}
