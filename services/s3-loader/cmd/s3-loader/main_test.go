package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/config"
	"tributary.dev/libs/pg"
	"tributary.dev/libs/setup"
	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/svc"
)

// These tests run the real binary as operators do, so that kill -9 hits a
// real process with real connections.

// binary is the production build; faultBinary is built with -tags
// faults and has the crash tests' pause points (faults.go). Only the
// crash tests run it.
var binary, faultBinary string

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	var err error
	var cleanup func()
	if binary, cleanup, err = testkit.BuildBinary("s3-loader", true); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	if faultBinary, cleanup, err = testkit.BuildBinary("s3-loader", true, "faults"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	return m.Run()
}

type procEnv struct {
	t      testing.TB
	ctx    context.Context
	s3     *testkit.S3Server
	bucket config.Bucket
	store  blob.Store
	dsn    string
	pool   *pgxpool.Pool
	nats   string
	stream jetstream.Stream
}

func newProcEnv(t testing.TB) *procEnv {
	ctx := context.Background()
	e := &procEnv{t: t, ctx: ctx, s3: testkit.RunS3(t), dsn: testkit.Postgres(t), nats: testkit.NATS(t)}
	var err error
	if e.bucket, err = e.s3.CreateBucket(ctx, "dms-test"); err != nil {
		t.Fatal(err)
	}
	e.bucket.Path = "dms"
	if e.store, err = blob.Open(ctx, e.bucket); err != nil {
		t.Fatal(err)
	}
	if e.pool, err = pg.Connect(ctx, e.dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.pool.Close)
	if _, err := e.pool.Exec(ctx, `
		CREATE TABLE orders (order_id bigint PRIMARY KEY, customer text, amount numeric(12,2), event_id bigint);
		CREATE TABLE customers (customer_id int PRIMARY KEY, name text);
		CREATE TABLE items (order_id bigint, line int, sku text, PRIMARY KEY (order_id, line));`); err != nil {
		t.Fatal(err)
	}
	// A stream on the subject counts notifications the way a durable
	// subscriber sees them: one per Nats-Msg-Id.
	nc, err := nats.Connect(e.nats)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if e.stream, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"paper-engine.meta.orders.change"}}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *procEnv) put(key string, body []byte) {
	e.t.Helper()
	if err := e.store.Put(e.ctx, e.bucket.Join(key), bytes.NewReader(body), int64(len(body))); err != nil {
		e.t.Fatal(err)
	}
}

func (e *procEnv) cmd(extra ...string) *exec.Cmd { return e.cmdOf(binary, extra...) }

// cmdOf is cmd with another build of the loader.
func (e *procEnv) cmdOf(bin string, extra ...string) *exec.Cmd {
	c := exec.Command(bin)
	c.Env = append(os.Environ(),
		"RUN_AS_SERVICE=false", "METRICS_ADDR=", "LOG_LEVEL=info", "SCHEMA_MAP=dbo=public", "EVENT_ID_COLUMN=event_id",
		"SOURCE="+e.bucket.Raw(), "TARGET="+e.dsn, "NATS="+e.nats)
	c.Env = append(c.Env, extra...)
	return c
}

// run runs the loader to completion and returns its output.
func (e *procEnv) run(extra ...string) string {
	e.t.Helper()
	out, err := e.cmd(extra...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("s3-loader: %v\n%s", err, out)
	}
	return string(out)
}

// killWhen starts the loader (the build with fault points) and kill -9s
// it as soon as a line of its output contains marker.
func (e *procEnv) killWhen(marker string, extra ...string) {
	e.t.Helper()
	c, _ := e.startUntil(faultBinary, marker, extra...)
	if err := c.Process.Signal(syscall.SIGKILL); err != nil {
		e.t.Fatal(err)
	}
	err := c.Wait()
	if ws, ok := c.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		e.t.Fatalf("loader was not killed by SIGKILL: %v", err)
	}
}

// startUntil starts bin and returns once a line of its output contains
// marker; the process is still running (the caller ends it) and the rest
// of its output is copied to out.
func (e *procEnv) startUntil(bin, marker string, extra ...string) (*exec.Cmd, *syncBuffer) {
	e.t.Helper()
	c := e.cmdOf(bin, extra...)
	pr, pw, _ := os.Pipe()
	c.Stdout, c.Stderr = pw, pw
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	pw.Close()
	e.t.Cleanup(func() { pr.Close() })
	found := make(chan bool, 1)
	out := &syncBuffer{}
	go func() {
		sc := bufio.NewScanner(pr)
		seen := false
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if !seen && strings.Contains(sc.Text(), marker) {
				seen = true
				found <- true
			}
		}
		if !seen {
			found <- false
		}
	}()
	select {
	case ok := <-found:
		if !ok {
			c.Wait()
			e.t.Fatalf("loader ended before %q:\n%s", marker, out.String())
		}
	case <-time.After(60 * time.Second):
		_ = c.Process.Kill()
		_ = c.Wait()
		e.t.Fatalf("no %q within 60s:\n%s", marker, out.String())
	}
	return c, out
}

// syncBuffer is a strings.Builder safe to write from the output reader
// while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) WriteString(x string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(x)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (e *procEnv) scalar(sql string) string {
	e.t.Helper()
	var s string
	if err := e.pool.QueryRow(e.ctx, sql).Scan(&s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// notifications is how many distinct notifications reached the stream.
func (e *procEnv) notifications() uint64 {
	e.t.Helper()
	time.Sleep(200 * time.Millisecond)
	info, err := e.stream.Info(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	// Every one the stream holds must keep the subject's schema.
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := e.stream.GetMsg(e.ctx, seq)
		if err != nil {
			e.t.Fatalf("read notification %d from the stream: %v", seq, err)
		}
		testkit.CheckEvent(e.t, m.Subject, m.Data)
	}
	return info.State.Msgs
}

func bigLoad(rows int) []byte {
	var b bytes.Buffer
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&b, "%d,customer-%d,%d.%02d,%d\n", i, i%977, i%10000, i%100, i)
	}
	return b.Bytes()
}

func TestKillDuringCopyThenRestart(t *testing.T) {
	e := newProcEnv(t)
	// A million rows keep COPY busy for about a second after the first
	// progress line, which is when the kill lands.
	e.put("dbo/orders/LOAD00000001.csv", bigLoad(1_000_000))
	e.put("dbo/orders/20240101-120000000.csv", []byte("U,7,changed,1.00,1000001\nD,8,,,1000002\n"))
	e.killWhen("B of ", "PROGRESS_ROWS=50000")
	if got := e.scalar(`SELECT (SELECT count(*) FROM orders) || '|' || (SELECT count(*) FROM loader_deliveries)`); got != "0|0" {
		t.Fatalf("after kill -9 mid-COPY (orders|deliveries) = %s, want nothing", got)
	}
	e.run()
	if got := e.scalar(`SELECT count(*) || '|' || sum(order_id) || '|' || max(event_id) FROM orders`); got != "999999|500000499992|1000001" {
		t.Fatalf("after restart orders (count|sum|max event) = %s", got)
	}
	if got := e.scalar(`SELECT customer FROM orders WHERE order_id = 7`); got != "changed" {
		t.Fatalf("CDC after the load: order 7 customer = %q", got)
	}
	if n := e.notifications(); n != 2 {
		t.Fatalf("%d notifications, want one per delivery (2)", n)
	}
}

func TestKillBeforeCommitThenRestart(t *testing.T) {
	e := newProcEnv(t)
	e.put("dbo/customers/LOAD00000001.csv", []byte("1,ann\n2,ben\n"))
	e.put("dbo/orders/LOAD00000001.csv", []byte("1,ann,1.00,1\n"))
	e.killWhen("FAULT pause before commit", "FAULT_PAUSE_BEFORE_COMMIT=true")
	if got := e.scalar(`SELECT (SELECT count(*) FROM customers) || '|' || (SELECT count(*) FROM loader_deliveries) || '|' || (SELECT count(*) FROM loader_outbox)`); got != "0|0|0" {
		t.Fatalf("after kill -9 before commit (customers|deliveries|outbox) = %s, want nothing", got)
	}
	e.run()
	if got := e.scalar(`SELECT (SELECT count(*) FROM customers) || '|' || (SELECT count(*) FROM orders) || '|' || (SELECT count(*) FROM loader_outbox WHERE sent_at IS NOT NULL)`); got != "2|1|2" {
		t.Fatalf("after restart (customers|orders|sent) = %s", got)
	}
	if n := e.notifications(); n != 2 {
		t.Fatalf("%d notifications, want 2", n)
	}
	// A third run finds nothing and sends nothing more.
	e.run()
	if n := e.notifications(); n != 2 {
		t.Fatalf("%d notifications after an idle run, want 2", n)
	}
}

// TestKillAfterPublishThenRestart kills the loader after a notification
// went out but before it was marked sent: the restart sends it again with
// the same Nats-Msg-Id, and the stream keeps one per delivery.
func TestKillAfterPublishThenRestart(t *testing.T) {
	e := newProcEnv(t)
	e.put("dbo/customers/LOAD00000001.csv", []byte("1,ann\n"))
	e.put("dbo/customers/20240101-120000000.csv", []byte("U,1,anna\n"))
	e.killWhen("FAULT pause after publish", "FAULT_PAUSE_AFTER_PUBLISH=true")
	if got := e.scalar(`SELECT (SELECT count(*) FROM loader_deliveries) || '|' || (SELECT count(*) FROM loader_outbox WHERE sent_at IS NULL)`); got != "1|1" {
		t.Fatalf("after kill -9 between publish and mark (deliveries|unsent) = %s, want 1|1", got)
	}
	if n := e.notifications(); n != 1 {
		t.Fatalf("%d notifications before the restart, want 1", n)
	}
	e.run()
	if got := e.scalar(`SELECT (SELECT name FROM customers WHERE customer_id = 1) || '|' || (SELECT count(*) FROM loader_deliveries) || '|' || (SELECT count(*) FROM loader_outbox WHERE sent_at IS NULL)`); got != "anna|2|0" {
		t.Fatalf("after restart (name|deliveries|unsent) = %s, want anna|2|0", got)
	}
	if n := e.notifications(); n != 2 {
		t.Fatalf("%d notifications, want one per delivery (2): the resend must carry the same Nats-Msg-Id", n)
	}
}

func TestTwoLoadersOneTarget(t *testing.T) {
	e := newProcEnv(t)
	e.put("dbo/orders/LOAD00000001.csv", bigLoad(50_000))
	e.put("dbo/orders/20240101-120000000.csv", []byte("D,1,,,\nU,2,two,2.00,50001\n"))
	e.put("dbo/customers/LOAD00000001.csv", []byte("1,ann\n"))
	e.put("dbo/items/LOAD00000001.csv", []byte("1,1,a\n1,2,b\n"))
	e.put("dbo/items/20240101-120000000.csv", []byte("I,1,3,c\n"))
	// A plain subscriber has no deduplication: it must see each
	// notification once, so the replicas must never both send one.
	nc, err := nats.Connect(e.nats)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("paper-engine.meta.orders.change")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := e.cmd().CombinedOutput()
			outs[i], errs[i] = string(out), err
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("loader %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	if got := e.scalar(`SELECT (SELECT count(*) FROM orders) || '|' || (SELECT count(*) FROM customers) || '|' || (SELECT count(*) FROM items) || '|' || (SELECT count(*) FROM loader_deliveries)`); got != "49999|1|3|5" {
		t.Fatalf("(orders|customers|items|deliveries) = %s", got)
	}
	if n := e.notifications(); n != 5 {
		t.Fatalf("%d notifications, want 5", n)
	}
	if n, _, _ := sub.Pending(); n != 5 {
		t.Fatalf("a plain subscriber got %d notifications, want 5 (each once)", n)
	}
	for range 5 {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		testkit.CheckEvent(t, m.Subject, m.Data)
	}
	applied := strings.Count(outs[0]+outs[1], ": processed (")
	if applied != 5 {
		t.Fatalf("deliveries applied across both loaders = %d, want 5 (each exactly once)", applied)
	}
}

// TestHelpListsEveryVariable takes the variables from the Config struct
// itself, so a new field cannot miss --help or the README.
func TestHelpListsEveryVariable(t *testing.T) {
	svc.CheckHelp(t, binary, "../../README.md", &Config{})
	if n := len(setup.Variables(&Config{})); n < 20 {
		t.Fatalf("Config has only %d variables?", n)
	}
}

// TestProductionBinaryHasNoFaultPoints sets every fault variable, old
// and new, on the production build: the pass runs to the end, because
// the hooks are not there, and --help does not mention them.
func TestProductionBinaryHasNoFaultPoints(t *testing.T) {
	e := newProcEnv(t)
	e.put("dbo/customers/LOAD00000001.csv", []byte("1,ann\n2,ben\n"))
	e.put("dbo/customers/20240101-120000000.csv", []byte("U,1,anna\n"))
	c := e.cmd("FAULT_PAUSE_BEFORE_COMMIT=true", "FAULT_PAUSE_AFTER_PUBLISH=true",
		"S3_LOADER_TEST_PAUSE_BEFORE_COMMIT=true", "S3_LOADER_TEST_PAUSE_AFTER_PUBLISH=true")
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("s3-loader: %v\n%s", err, out.String())
		}
	case <-time.After(120 * time.Second):
		_ = c.Process.Kill()
		<-done
		t.Fatalf("the production binary paused on a fault variable:\n%s", out.String())
	}
	if strings.Contains(out.String(), "FAULT") {
		t.Fatalf("the production binary reached a fault point:\n%s", out.String())
	}
	if got := e.scalar(`SELECT (SELECT name FROM customers WHERE customer_id = 1) || '|' || (SELECT count(*) FROM loader_deliveries) || '|' || (SELECT count(*) FROM loader_outbox WHERE sent_at IS NULL)`); got != "anna|2|0" {
		t.Fatalf("(name|deliveries|unsent) = %s, want anna|2|0", got)
	}
	if n := e.notifications(); n != 2 {
		t.Fatalf("%d notifications, want 2", n)
	}
	help, err := exec.Command(binary, "--help").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"FAULT_", "TEST_PAUSE", "test hook"} {
		if strings.Contains(string(help), w) {
			t.Errorf("--help mentions %q:\n%s", w, help)
		}
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	c := exec.Command(binary)
	c.Env = []string{"SOURCE=bucket_name=x", "TARGET=host=h password=hunter2 port=x", "ON_BAD_FILE=maybe"}
	out, err := c.CombinedOutput()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	if !strings.Contains(string(out), "TARGET") || strings.Contains(string(out), "hunter2") {
		t.Fatalf("output = %s", out)
	}
}
