package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"tributary.dev/libs/testkit"
)

// These tests write delivery files as the AWS DMS user guide ("Using
// Amazon S3 as a target for AWS Database Migration Service") says DMS
// writes them under each endpoint setting, and run the real binary on
// them against versitygw, PostgreSQL and embedded NATS.

// runFail runs the loader, which must fail, and returns its output.
func (e *procEnv) runFail(extra ...string) string {
	e.t.Helper()
	out, err := e.cmd(extra...).CombinedOutput()
	if err == nil {
		e.t.Fatalf("s3-loader succeeded; want it to stop a table:\n%s", out)
	}
	return string(out)
}

// rows is a query's rows as "a|b" lines, NULL spelled out.
func (e *procEnv) rows(sql string) string {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, sql)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			e.t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				parts[i] = "NULL"
			} else {
				parts[i] = fmt.Sprint(v)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return strings.Join(out, "\n")
}

// metric reads one sample from a running loader's /metrics.
func metric(t *testing.T, addr, series string) float64 {
	t.Helper()
	code, body := testkit.Probe(addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics answered %d", code)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), " "); ok && name == series {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("/metrics has no %s:\n%s", series, body)
	return 0
}

// TestSeventeenHexFullLoadFiles: DMS numbers full-load files with a
// hexadecimal counter, so a table of 17 files ends LOAD00000009,
// LOAD0000000A … LOAD0000000F, LOAD00000010, LOAD00000011. Every one is
// loaded, in number order. A missing number stops the table at the gap,
// naming it, until the file arrives.
func TestSeventeenHexFullLoadFiles(t *testing.T) {
	e := newProcEnv(t)
	put := func(seq int) {
		var b strings.Builder
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(&b, "%d,file %d row %d\n", seq*100+i, seq, i)
		}
		e.put(fmt.Sprintf("dbo/customers/LOAD%08X.csv", seq), []byte(b.String()))
	}
	for seq := 1; seq <= 17; seq++ {
		put(seq)
	}
	e.run()
	if got := e.scalar(`SELECT count(*) || '|' || sum(customer_id) FROM customers`); got != "51|46002" {
		t.Fatalf("customers (count|sum of ids) = %s, want all 51 rows of the 17 files (sum 46002)", got)
	}
	want := "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"
	if got := e.scalar(`SELECT string_agg(file_seq::text, ',' ORDER BY id) FROM loader_deliveries`); got != want {
		t.Fatalf("full-load files applied in order %s, want %s", got, want)
	}
	if got := e.scalar(`SELECT key FROM loader_deliveries WHERE file_seq = 10`); got != "dms/dbo/customers/LOAD0000000A.csv" {
		t.Fatalf("file 10 is %s", got)
	}
	if n := e.notifications(); n != 17 {
		t.Fatalf("%d notifications, want one per file (17)", n)
	}

	// Another table: LOAD0000000A has not arrived when LOAD0000000B has.
	for seq := 1; seq <= 11; seq++ {
		if seq == 10 {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%d,c%d,1.00,%d\n", seq, seq, seq)
		e.put(fmt.Sprintf("dbo/orders/LOAD%08X.csv", seq), []byte(b.String()))
	}
	out := e.runFail()
	if !strings.Contains(out, "LOAD0000000B.csv") || !strings.Contains(out, "LOAD0000000A missing") {
		t.Fatalf("the gap is not named:\n%s", out)
	}
	if got := e.scalar(`SELECT count(*) FROM orders`); got != "9" {
		t.Fatalf("orders holds %s rows; want the 9 files before the gap applied and nothing after it", got)
	}
	e.put("dbo/orders/LOAD0000000A.csv", []byte("10,c10,1.00,10\n"))
	e.run()
	if got := e.scalar(`SELECT string_agg(order_id::text, ',' ORDER BY order_id) FROM orders`); got != "1,2,3,4,5,6,7,8,9,10,11" {
		t.Fatalf("orders after the missing file arrived = %s", got)
	}
	if got := e.scalar(`SELECT string_agg(file_seq::text, ',' ORDER BY id) FROM loader_deliveries WHERE table_name = 'orders'`); got != "1,2,3,4,5,6,7,8,9,10,11" {
		t.Fatalf("orders' files applied in order %s", got)
	}
}

// TestUnplaceableKeysStopTheirTable: a Parquet file while CSV is read,
// a parallel-load segment and a stray file stop their table — nothing of
// it is applied, not even its good files, and ON_BAD_FILE=skip does not
// pass over them — while other tables load. The stop shows in pending,
// lag, halted tables and errors_total{kind="unplaceable"}.
func TestUnplaceableKeysStopTheirTable(t *testing.T) {
	e := newProcEnv(t)
	e.put("dbo/customers/LOAD00000001.csv", []byte("1,ann\n"))
	e.put("dbo/customers/LOAD00000002.parquet", []byte("PAR1"))
	e.put("dbo/items/LOAD00000001.csv", []byte("1,1,a\n"))
	e.put("dbo/items/SEGMENT1_LOAD00000001.csv", []byte("2,1,b\n"))
	e.put("dbo/items/20240101-120000000.txt", []byte("x\n"))
	e.put("dbo/orders/LOAD00000001.csv", []byte("1,ann,1.00,1\n"))
	out := e.runFail("ON_BAD_FILE=skip")
	for _, w := range []string{"dms/dbo/customers/LOAD00000002.parquet", "Parquet", "dms/dbo/items/SEGMENT1_LOAD00000001.csv", "dms/dbo/items/20240101-120000000.txt"} {
		if !strings.Contains(out, w) {
			t.Errorf("output does not name %q:\n%s", w, out)
		}
	}
	if got := e.scalar(`SELECT (SELECT count(*) FROM customers) || '|' || (SELECT count(*) FROM items) || '|' || (SELECT count(*) FROM orders) || '|' || (SELECT count(*) FROM loader_deliveries WHERE status = 'skipped')`); got != "0|0|1|0" {
		t.Fatalf("(customers|items|orders|skipped) = %s; want the two stopped tables untouched, orders loaded, nothing skipped", got)
	}

	addr := testkit.FreeAddr(t)
	c, logs := e.startUntil(binary, "pass done", "RUN_AS_SERVICE=true", "MIN_SLEEP=30", "MAX_SLEEP=30", "METRICS_ADDR="+addr)
	defer stopLoader(t, c.Process.Pid, c.Wait)
	testkit.WaitStatus(t, addr, "/healthz", http.StatusOK, logs)
	if got := metric(t, addr, "tributary_s3_loader_halted_tables"); got != 2 {
		t.Errorf("halted_tables = %v, want 2", got)
	}
	// customers: its good file and the Parquet one; items: its two
	// full-load-looking files and the stray one.
	if got := metric(t, addr, "tributary_s3_loader_pending_files"); got != 5 {
		t.Errorf("pending_files = %v, want 5", got)
	}
	if got := metric(t, addr, "tributary_s3_loader_lag_seconds"); got <= 0 {
		t.Errorf("lag_seconds = %v; a stopped table is behind", got)
	}
	if got := metric(t, addr, `tributary_s3_loader_errors_total{kind="unplaceable"}`); got != 3 {
		t.Errorf(`errors_total{kind="unplaceable"} = %v, want 3`, got)
	}
}
