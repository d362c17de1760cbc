package loader

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/config"
	"tributary.dev/libs/metrics"
	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/svc"
	"tributary.dev/services/s3-loader/internal/notify"
	"tributary.dev/services/s3-loader/internal/source"
	"tributary.dev/services/s3-loader/internal/target"
	"tributary.dev/services/s3-loader/migrations"
)

// schemaSQL is the operator's tables, as the original's db/*.sql made them:
// three entities with single and composite keys and several types.
const schemaSQL = `
CREATE TABLE public.orders (
	order_id   bigint PRIMARY KEY,
	customer   text NOT NULL,
	amount     numeric(12,2),
	created_at timestamptz,
	event_id   bigint
);
CREATE TABLE public.customers (
	customer_id integer PRIMARY KEY,
	name        text,
	email       text
);
CREATE TABLE public.items (
	order_id bigint,
	line     integer,
	sku      text,
	qty      integer,
	PRIMARY KEY (order_id, line)
);`

// env is one test's real servers and a loader wired as main wires it.
type env struct {
	t      *testing.T
	ctx    context.Context
	bucket config.Bucket
	store  blob.Store
	pool   *pgxpool.Pool
	dsn    string
	nats   string
	msgs   *collector
	plain  int // decompressed bytes put so far
	m      *Metrics
	cfg    Config
	notify notify.Builder // the notification identity main builds from NOTIFY_*
	log    *zap.Logger    // the loader's logger; nil: the test's
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	s := svc.New(t, svc.Options{S3: true, BucketPath: "dms", Postgres: true, Migrations: migrations.FS, Service: "s3-loader", NATS: true})
	e := &env{t: t, ctx: ctx, bucket: s.Bucket, store: s.Store, pool: s.Pool, dsn: s.DSN, nats: s.NATS}
	if _, err := e.pool.Exec(ctx, schemaSQL); err != nil {
		t.Fatal(err)
	}
	e.msgs = collect(t, e.nats, "paper-engine.meta.orders.change")
	// Notifications are acknowledged by a stream, as main makes sure.
	bus, err := natsbus.Connect(ctx, e.nats, "test", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	if _, err := notify.EnsureStream(ctx, bus, "ORDERS", "paper-engine.meta.orders.change", time.Hour); err != nil {
		t.Fatal(err)
	}
	e.cfg = Config{SchemaMap: map[string]string{"dbo": "public"}, EventIDColumn: "event_id", LateWindow: time.Hour, ProgressEvery: 2}
	e.notify = notify.Builder{Subject: "paper-engine.meta.orders.change", DS: "paper-engine", ID: "orders", Host: "loader-test"}
	return e
}

// loader builds a Loader the way main does, with fresh metrics.
func (e *env) loader() *Loader {
	e.t.Helper()
	return e.loaderOn(e.pool, true)
}

// loaderOn builds a Loader on pool (one with its own settings, such as a
// statement timeout). Without publish, notifications are written to the
// outbox and left there, as while NATS is unreachable.
func (e *env) loaderOn(pool *pgxpool.Pool, publish bool) *Loader {
	e.t.Helper()
	tgt := target.New(pool)
	if err := tgt.Migrate(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	var p *notify.Publisher
	if publish {
		bus, err := natsbus.Connect(e.ctx, e.nats, "test", zap.NewNop())
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(bus.Close)
		p = &notify.Publisher{Target: tgt, Bus: bus, Log: zap.NewNop()}
	}
	e.m = NewMetrics(metrics.New("s3-loader"))
	b := e.notify
	log := e.log
	if log == nil {
		log = zaptest.NewLogger(e.t)
	}
	return New(e.cfg, source.New(e.store, e.bucket.Path, e.cfg.Settings.DatePartition), tgt, &b, p, log, e.m)
}

func (e *env) pass() (Result, error) {
	e.t.Helper()
	return e.loader().Pass(e.ctx)
}

// put uploads a delivery file, gzipped when the key says so.
func (e *env) put(key string, lines ...string) {
	e.t.Helper()
	body := []byte(strings.Join(lines, "\n") + "\n")
	e.plain += len(body)
	if strings.HasSuffix(key, ".gz") {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(body)
		zw.Close()
		body = b.Bytes()
	}
	if err := e.store.Put(e.ctx, e.bucket.Join(key), bytes.NewReader(body), int64(len(body))); err != nil {
		e.t.Fatal(err)
	}
}

// query returns rows as "a|b|c" lines, NULL spelled out.
func (e *env) query(sql string) string {
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
				parts[i] = toString(v)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if rows.Err() != nil {
		e.t.Fatal(rows.Err())
	}
	return strings.Join(out, "\n")
}

func toString(v any) string {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case string:
		return x
	default:
		b, _ := json.Marshal(x)
		s := string(b)
		if len(s) > 1 && s[0] == '"' {
			s = s[1 : len(s)-1]
		}
		return s
	}
}

// collector gathers every message on a subject.
type collector struct {
	t    *testing.T
	mu   sync.Mutex
	msgs []*nats.Msg
}

func collect(t *testing.T, url, subject string) *collector {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	c := &collector{t: t}
	if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		c.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return c
}

// wait returns the messages once n have arrived (or after 5s, whatever
// came), each checked against its schema in proto/events/: a test sees
// only payloads that keep the wire contract.
func (c *collector) wait(n int) []*nats.Msg {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		got := len(c.msgs)
		c.mu.Unlock()
		if got >= n {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // let any extra (wrong) message arrive too
	c.mu.Lock()
	msgs := append([]*nats.Msg(nil), c.msgs...)
	c.mu.Unlock()
	for _, m := range msgs {
		testkit.CheckEvent(c.t, m.Subject, m.Data)
	}
	return msgs
}
