package main

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"
	"time"

	"tributary.dev/libs/testkit"
)

// TestDateFoldersSwitchedOnMidStream: a table's changes arrive flat, then
// DMS's endpoint is switched to date folders. "…/2024/01/02/…" sorts
// before the last flat key "…/20240101-…", so one listing position for
// both layouts would never see the dated files. Declared, the running
// service's per-pass listing (the whole-folder audit is an hour away)
// finds each as it comes and applies it in time order; undeclared, the
// table stops and names the setting.
func TestDateFoldersSwitchedOnMidStream(t *testing.T) {
	e := newProcEnv(t)
	e.put("dbo/customers/LOAD00000001.csv", []byte("1,ann\n2,ben\n"))
	e.put("dbo/customers/20240101-120000000.csv", []byte("U,1,flat\n"))
	e.run()
	customers := func() string {
		return e.scalar(`SELECT string_agg(customer_id || ':' || name, ',' ORDER BY customer_id) FROM customers`)
	}
	addr := testkit.FreeAddr(t)
	c, logs := e.startUntil(binary, "pass done", "DMS_DATE_PARTITION_ENABLED=true", "RUN_AS_SERVICE=true",
		"MIN_SLEEP=0", "MAX_SLEEP=1", "AUDIT_INTERVAL=3600", "METRICS_ADDR="+addr)
	waitFor := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(90 * time.Second); customers() != want; time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("customers = %s, want %s; the service's passes did not find the dated files:\n%s", customers(), want, logs)
			}
		}
	}
	e.put("dbo/customers/2024/01/02/20240102-090000000.csv", []byte("U,2,dated\n"))
	e.put("dbo/customers/2024/01/02/20240102-100000000.csv", []byte("I,3,cid\n"))
	waitFor("1:flat,2:dated,3:cid")
	e.put("dbo/customers/2024/01/02/20240102-110000000.csv", []byte("U,3,cid again\n"))
	e.put("dbo/customers/2024/01/03/20240103-000100000.csv", []byte("D,1,flat\n"))
	waitFor("2:dated,3:cid again")
	testkit.WaitStatus(t, addr, "/healthz", http.StatusOK, logs)
	stopLoader(t, c.Process.Pid, c.Wait)
	if got := e.scalar(`SELECT string_agg(split_part(key, 'customers/', 2), ',' ORDER BY id) FROM loader_deliveries WHERE kind = 'cdc'`); got != "20240101-120000000.csv,2024/01/02/20240102-090000000.csv,2024/01/02/20240102-100000000.csv,2024/01/02/20240102-110000000.csv,2024/01/03/20240103-000100000.csv" {
		t.Fatalf("change files applied in order %s", got)
	}
	if n := e.notifications(); n != 6 {
		t.Fatalf("%d notifications, want one per delivery (6)", n)
	}

	e.put("dbo/customers/2024/01/04/20240104-090000000.csv", []byte("U,2,undeclared\n"))
	out := e.runFail()
	if !strings.Contains(out, "dms/dbo/customers/2024/01/04/20240104-090000000.csv") || !strings.Contains(out, "DMS_DATE_PARTITION_ENABLED is false") {
		t.Fatalf("an undeclared date folder does not stop the table by name:\n%s", out)
	}
	if got := customers(); got != "2:dated,3:cid again" {
		t.Fatalf("customers = %s; nothing of an undeclared layout may apply", got)
	}
}

func gzBytes(t testing.TB, data []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestLateFiles: a change file older than the lateness window, which
// the per-pass listing no longer looks at, is found by the whole
// listing and reported; so is one stamped exactly as the last file
// applied. Neither is applied; ON_BAD_FILE=skip records them, as any
// late file, and the table goes on.
func TestLateFiles(t *testing.T) {
	e := newProcEnv(t)
	e.put("dbo/customers/LOAD00000001.csv", []byte("1,ann\n"))
	e.put("dbo/customers/20240101-120000000.csv", []byte("U,1,noon\n"))
	e.put("dbo/customers/20240101-130000000.csv", []byte("U,1,one\n"))
	e.run("CDC_LATE_WINDOW=60")

	e.put("dbo/customers/20240101-100000000.csv", []byte("U,1,ten (late by three hours)\n"))
	out := e.runFail("CDC_LATE_WINDOW=60")
	if !strings.Contains(out, "dms/dbo/customers/20240101-100000000.csv") || !strings.Contains(out, "older than") {
		t.Fatalf("the file older than the window is not reported:\n%s", out)
	}
	e.run("CDC_LATE_WINDOW=60", "ON_BAD_FILE=skip")

	e.put("dbo/customers/20240101-130000000.csv.gz", gzBytes(t, []byte("U,1,one again\n")))
	out = e.runFail("CDC_LATE_WINDOW=60")
	if !strings.Contains(out, "dms/dbo/customers/20240101-130000000.csv.gz") || !strings.Contains(out, "as old as") {
		t.Fatalf("the file stamped as the last applied one is not refused:\n%s", out)
	}
	e.run("CDC_LATE_WINDOW=60", "ON_BAD_FILE=skip")
	if got := e.scalar(`SELECT name FROM customers`); got != "one" {
		t.Fatalf("customer 1 = %q; no late change may apply", got)
	}
	if got := e.scalar(`SELECT string_agg(split_part(key, 'customers/', 2), ',' ORDER BY id) FROM loader_deliveries WHERE status = 'skipped'`); got != "20240101-100000000.csv,20240101-130000000.csv.gz" {
		t.Fatalf("skipped = %s", got)
	}
}

// TestStopsHoldBetweenAudits: a late file older than the window, and a
// stray key where no pass looks, are found by the whole listing of the
// first pass; the passes between audits (an hour apart here) keep the
// table stopped on them, so newer files wait behind them, until the
// operator deals with them.
func TestStopsHoldBetweenAudits(t *testing.T) {
	e := newProcEnv(t)
	e.put("dbo/customers/LOAD00000001.csv", []byte("1,ann\n"))
	e.put("dbo/customers/20240101-120000000.csv", []byte("U,1,noon\n"))
	e.put("dbo/items/LOAD00000001.csv", []byte("1,1,a\n"))
	e.put("dbo/items/20240101-120000000.csv", []byte("U,1,1,b\n"))
	e.run("CDC_LATE_WINDOW=60")
	e.put("dbo/customers/20240101-100000000.csv", []byte("U,1,ten (late)\n"))
	e.put("dbo/items/2019/01/01/notes.txt", []byte("hello\n"))

	addr := testkit.FreeAddr(t)
	c, logs := e.startUntil(binary, "pass done", "CDC_LATE_WINDOW=60", "RUN_AS_SERVICE=true",
		"MIN_SLEEP=0", "MAX_SLEEP=1", "AUDIT_INTERVAL=3600", "METRICS_ADDR="+addr)
	defer stopLoader(t, c.Process.Pid, c.Wait)
	e.put("dbo/customers/20240101-130000000.csv", []byte("U,1,one\n"))
	e.put("dbo/items/20240101-130000000.csv", []byte("U,1,1,c\n"))
	passes := func() int { return strings.Count(logs.String(), "pass done") }
	for n, deadline := passes()+3, time.Now().Add(90*time.Second); passes() < n; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no three more passes:\n%s", logs)
		}
	}
	if got := e.scalar(`SELECT (SELECT name FROM customers) || '|' || (SELECT sku FROM items)`); got != "noon|b" {
		t.Fatalf("(customer 1|item 1) = %s; a pass between audits went past the late file or the stray key:\n%s", got, logs)
	}
	if got := metric(t, addr, "tributary_s3_loader_halted_tables"); got != 2 {
		t.Fatalf("halted_tables = %v between audits, want 2", got)
	}

	// The operator deals with both: the stray key goes, the late file is
	// recorded as skipped by a one-off run.
	if err := e.store.Delete(e.ctx, e.bucket.Join("dbo/items/2019/01/01/notes.txt")); err != nil {
		t.Fatal(err)
	}
	e.run("CDC_LATE_WINDOW=60", "ON_BAD_FILE=skip")
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		got := e.scalar(`SELECT (SELECT name FROM customers) || '|' || (SELECT sku FROM items)`)
		if got == "one|c" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("(customer 1|item 1) = %s after the stops were dealt with:\n%s", got, logs)
		}
	}
}
