package tools

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/metrics"
	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/svc"
	"tributary.dev/services/topic-archiver/internal/archive"
	"tributary.dev/services/topic-archiver/internal/index"
	"tributary.dev/services/topic-archiver/internal/kafkameta"
	"tributary.dev/services/topic-archiver/migrations"
)

// env is one test's real servers: kfake, versitygw, PostgreSQL, NATS.
type env struct {
	t       *testing.T
	ctx     context.Context
	brokers []string
	tools   *Env
	ix      *index.Index
	store   blob.Store
	bus     *natsbus.Bus
	stored  *nats.Subscription // archive.stored.>, see announced
}

func newEnv(t *testing.T, kopts ...kfake.Opt) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, ctx: ctx, brokers: testkit.Kafka(t, append([]kfake.Opt{kfake.DefaultNumPartitions(4)}, kopts...)...)}
	s := svc.New(t, svc.Options{S3: true, BucketPath: "archive", Postgres: true, Migrations: migrations.FS, Service: "topic-archiver", NATS: true})
	e.store = s.Store
	e.ix = index.New(s.Pool)
	var err error
	if e.bus, err = natsbus.Connect(ctx, s.NATS, "test", zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.bus.Close)
	// Every announcement the test's archivers make is read here and
	// checked against its schema; what a test does not read itself is
	// checked when it ends (before the connection closes).
	if e.stored, err = e.bus.Conn.SubscribeSync("archive.stored.>"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.announced() })
	meta, err := kafkameta.New(e.brokers, kafkameta.Auth{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(meta.Close)
	sel, _ := archive.NewSelector(".*", []string{"vetoed.*"})
	e.tools = &Env{Out: &bytes.Buffer{}, Log: zap.NewNop(), Index: e.ix, Store: e.store, Bus: e.bus, Brokers: e.brokers,
		Dialer: &kafka.Dialer{Timeout: 5 * time.Second}, Meta: meta, Selector: sel, Root: "archive", TestTopic: "tributary.archiver.test"}
	return e
}

// archiver starts an in-process archiver and returns a stop function that
// waits for it to finish.
func (e *env) archiver(mode archive.Mode, tweak ...func(*archive.Config)) (stop func()) {
	e.t.Helper()
	return e.archiverWith(mode, archive.NewMetrics(metrics.New("topic-archiver")), tweak...)
}

func (e *env) produce(topic string, msgs ...kafka.Message) {
	e.t.Helper()
	w := writer(e.tools, topic)
	defer w.Close()
	if err := produce(e.ctx, w, msgs); err != nil {
		e.t.Fatalf("produce to %s: %v", topic, err)
	}
}

// count is how many messages of topic the index holds.
func (e *env) count(topic string) int {
	e.t.Helper()
	var n int
	if err := e.ix.Pool().QueryRow(e.ctx, `SELECT count(*) FROM archive_messages WHERE topic = $1`, topic).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// waitCount waits until the index holds n messages of topic.
func (e *env) waitCount(topic string, n int, within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if e.count(topic) >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("index holds %d messages of %q, want %d within %s", e.count(topic), topic, n, within)
}

// announcement is one archive.stored event a test saw.
type announcement struct {
	subject string
	payload []byte
}

// announced returns the archive.stored events received since the last
// call, each checked against proto/events/archive.stored.schema.json.
// Call it after the archiver has stopped: the events of what it stored
// are then all on their way, and a short quiet spell means none is left.
func (e *env) announced() []announcement {
	e.t.Helper()
	if err := e.bus.Conn.Flush(); err != nil {
		e.t.Fatalf("flush NATS: %v", err)
	}
	var out []announcement
	for {
		m, err := e.stored.NextMsg(500 * time.Millisecond)
		if err != nil {
			return out
		}
		testkit.CheckEvent(e.t, m.Subject, m.Data)
		out = append(out, announcement{m.Subject, m.Data})
	}
}

// run runs a verb and returns its output.
func (e *env) run(verb string, args ...string) (string, error) {
	out := &bytes.Buffer{}
	env := *e.tools
	env.Out = out
	err := Run(e.ctx, &env, verb, args)
	return out.String(), err
}

func messages(n int, f func(i int) kafka.Message) []kafka.Message {
	out := make([]kafka.Message, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func lines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

var _ = fmt.Sprint

func contextWithTimeout(e *env, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, d)
}
