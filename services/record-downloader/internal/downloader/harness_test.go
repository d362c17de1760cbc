package downloader

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/metrics"
	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/streamgen"
	"tributary.dev/libs/testkit"
	"tributary.dev/services/record-downloader/internal/announce"
	"tributary.dev/services/record-downloader/internal/fetch"
	"tributary.dev/services/record-downloader/internal/names"
	"tributary.dev/services/record-downloader/internal/sink"
	"tributary.dev/services/record-downloader/internal/state"
)

const prefix = "recordstreams/"

func fixtures(t testing.TB) string {
	return filepath.Join(testkit.HederaFixtures(t), "hedera-mirror-node")
}

// gcsStore is a fresh fake-gcs-server bucket.
func gcsStore(t testing.TB) blob.Store {
	srv, name := testkit.GCS(t)
	s, err := blob.Open(context.Background(), testkit.GCSBucket(srv, name))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// s3Store is a fresh versitygw bucket.
func s3Store(t testing.TB) blob.Store {
	s, err := blob.Open(context.Background(), testkit.S3(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func upload(t testing.TB, s blob.Store, objs []streamgen.Object) {
	t.Helper()
	if err := streamgen.Upload(context.Background(), s, objs); err != nil {
		t.Fatal(err)
	}
}

// env is one downloader over a bucket, a destination directory and a
// NATS server with the stream; reopen makes a new Downloader over the same
// parts, as a restart does.
type env struct {
	t     testing.TB
	ctx   context.Context
	store blob.Store
	dest  string
	bus   *natsbus.Bus
	js    jetstream.Stream
	cfg   Config
	srv   *metrics.Server
	m     *Metrics
	d     *Downloader
}

// newEnv is a downloader of the network whose starting book is book,
// reading nodes (accounts; nil: every node of the book), with ratio of
// the whole book as the threshold ("1/3").
func newEnv(t testing.TB, store blob.Store, book *recordstream.AddressBook, nodes []string, ratio string) *env {
	t.Helper()
	ctx := context.Background()
	url := testkit.NATS(t)
	bus, err := natsbus.Connect(ctx, url, "test", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	r, err := recordstream.ParseRatio(ratio)
	if err != nil {
		t.Fatal(err)
	}
	var refs []NodeRef
	for _, n := range nodes {
		ref, err := ParseNodeRef(n)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	e := &env{t: t, ctx: ctx, store: store, dest: t.TempDir(), bus: bus,
		cfg: Config{Layout: names.Layout{Prefix: prefix, Network: "testnet"}, Nodes: refs, Books: recordstream.NewBookHistory(book, "test"),
			Threshold: recordstream.Threshold{Ratio: r}, Concurrency: 4, Batch: 1000}}
	e.reopen()
	e.js, err = bus.JS.Stream(ctx, "HEDERA_RECORDS")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) reopen() {
	e.t.Helper()
	sk, err := sink.Open(e.dest)
	if err != nil {
		e.t.Fatal(err)
	}
	st, err := state.Open(filepath.Join(e.dest, "_state"))
	if err != nil {
		e.t.Fatal(err)
	}
	ann, err := announce.New(e.ctx, e.bus, "HEDERA_RECORDS", announce.Limits{Dedup: time.Hour, MaxAge: 24 * time.Hour, MaxBytes: 1 << 30})
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv = metrics.New("record-downloader")
	e.m = NewMetrics(e.srv)
	f := &fetch.Fetcher{Store: e.store, Attempts: 3, Backoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	var log *zap.Logger
	if tt, ok := e.t.(*testing.T); ok {
		log = zaptest.NewLogger(tt, zaptest.Level(zap.WarnLevel))
	} else {
		log = zap.NewNop()
	}
	e.d, err = New(e.cfg, e.store, f, sk, st, ann, log, e.m)
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) pass() Result {
	e.t.Helper()
	res, err := e.d.Pass(e.ctx)
	if err != nil {
		e.t.Fatalf("pass: %v", err)
	}
	return res
}

// events reads every message of the stream, validating each against its
// schema, in stream order.
func (e *env) events() []announce.Event {
	e.t.Helper()
	info, err := e.js.Info(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []announce.Event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		msg, err := e.js.GetMsg(e.ctx, seq)
		if err != nil {
			e.t.Fatalf("stream message %d: %v", seq, err)
		}
		testkit.CheckEvent(e.t, msg.Subject, msg.Data)
		var ev announce.Event
		if err := json.Unmarshal(msg.Data, &ev); err != nil {
			e.t.Fatal(err)
		}
		if msg.Subject != "hedera.records.downloaded."+ev.Node {
			e.t.Errorf("event for node %s on %s", ev.Node, msg.Subject)
		}
		name := ev.Path[strings.LastIndexByte(ev.Path, '/')+1:]
		if got, want := msg.Header.Get(jetstream.MsgIDHeader), "testnet/"+ev.Path[:10]+"/"+name+"/"+ev.Kind; got != want {
			e.t.Errorf("Nats-Msg-Id %q, want network/day/file/kind %q", got, want)
		}
		out = append(out, ev)
	}
	return out
}

// files lists what is under the destination directory, relative, without
// the state and temp directories.
func (e *env) files() []string {
	e.t.Helper()
	var out []string
	err := filepath.Walk(e.dest, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(e.dest, p)
		if info.IsDir() {
			if rel == "_state" {
				return filepath.SkipDir
			}
			return nil
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// records lists the record files written (day/name).
func (e *env) records() []string {
	var out []string
	for _, f := range e.files() {
		if !strings.HasPrefix(f, "_") && !strings.HasPrefix(f, ".") && (strings.HasSuffix(f, ".rcd") || strings.HasSuffix(f, ".rcd.gz")) && !strings.Contains(f, "/sidecar/") {
			out = append(out, f)
		}
	}
	return out
}

// total sums every series of a counter vector.
func total(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	var sum float64
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err == nil && pb.Counter != nil {
			sum += pb.Counter.GetValue()
		}
	}
	return sum
}

var _ = testutil.ToFloat64
