package monitoring

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/testkit"
)

// parserCmd is the record-parser's main package, relative to the
// repository root.
const parserCmd = "services/record-parser/cmd/record-parser"

// syncBuffer collects a process's output for the failure message of
// testkit.WaitStatus while the process still writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serviceMetrics waits until the process on addr is ready and exports
// marker, one of the metrics the service registers all at once, and
// returns its /metrics. /readyz alone is not enough: it answers before the
// service has registered its checks and metrics (the server starts
// first), and under load the test read /metrics before they existed.
func serviceMetrics(t *testing.T, addr, marker string, out fmt.Stringer) string {
	t.Helper()
	testkit.WaitStatus(t, addr, "/readyz", 200, out)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		body := testkit.WaitStatus(t, addr, "/metrics", 200, out)
		if strings.Contains(body, marker) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not exported within 2 minutes; the process said:\n%s", marker, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metricTypes reads the "# TYPE <name> <type>" lines of a Prometheus text
// exposition: every family the process exports, with its type.
func metricTypes(body string) map[string]string {
	types := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
		}
	}
	return types
}

// The record-parser's real binary, started against real PostgreSQL,
// NATS and the Elasticsearch stand-in, exports under its prefix only
// names of the fixed list (with the types the dashboard assumes), and
// every name of the list that has no labels is exported from the start,
// so alerts on increase() or on the gauge see a series before the first
// event. Labelled names appear only once a label value is used; the code
// check (TestRecordParserRegistersTheFixedNames) covers them.
func TestRecordParserExportsTheFixedNames(t *testing.T) {
	r := root(t)
	bin := filepath.Join(t.TempDir(), "record-parser")
	buildCtx, cancelBuild := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancelBuild()
	build := exec.CommandContext(buildCtx, "go", "build", "-o", bin, "./"+parserCmd)
	build.Dir = r
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", parserCmd, err, out)
	}

	natsURL := testkit.NATS(t)
	// The downloader creates the stream the parser consumes; here the
	// test does, with the downloader's subjects.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus, err := natsbus.Connect(ctx, natsURL, "monitoring-test", zap.NewNop())
	if err != nil {
		t.Fatalf("connect to NATS %s: %v", natsURL, err)
	}
	defer bus.Close()
	if _, err := bus.EnsureStream(ctx, jetstream.StreamConfig{
		Name:     "HEDERA_RECORDS",
		Subjects: []string{"hedera.records.downloaded.>"},
		Storage:  jetstream.FileStorage,
	}); err != nil {
		t.Fatalf("create the downloader's stream: %v", err)
	}

	dir := t.TempDir()
	records, output := filepath.Join(dir, "records"), filepath.Join(dir, "parsed")
	for _, d := range []string{records, output} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	addr := testkit.FreeAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"RUN_AS_SERVICE=true", "LOG_LEVEL=info", "METRICS_ADDR="+addr,
		"RECORD_DIR="+records, "OUTPUT_DIR="+output,
		"ELASTICSEARCH_URL="+testkit.Elasticsearch(t),
		"TARGET="+testkit.Postgres(t),
		"NATS="+natsURL, "NETWORK=monitoring-test",
	)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("record-parser did not stop within 30s of SIGTERM; it said:\n%s", out)
		}
	}()

	types := metricTypes(serviceMetrics(t, addr, "tributary_record_parser_stream_halted", out))

	allowed := map[string]bool{}
	for n := range fixedMetrics()["record-parser"] {
		allowed[n] = true
	}
	for n := range libsMetrics(goFiles(t, filepath.Join(r, "libs", "metrics"))) {
		allowed[n] = true
	}
	allowed["last_progress_timestamp_seconds"] = true
	const prefix = "tributary_record_parser_"
	var unlisted []string
	for full, typ := range types {
		n, ok := strings.CutPrefix(full, prefix)
		if !ok {
			continue
		}
		if !allowed[n] {
			unlisted = append(unlisted, full)
			continue
		}
		if want := recordParserHistograms[n]; want != (typ == "histogram") {
			t.Errorf("%s is a %s; the dashboard and alerts take it for a histogram: %v", full, typ, want)
		}
	}
	sort.Strings(unlisted)
	if len(unlisted) > 0 {
		t.Errorf("record-parser exports metrics the fixed list (and so the dashboard) does not know: %v", unlisted)
	}

	// The names the design gives no labels.
	for _, n := range []string{
		"last_progress_timestamp_seconds", "parse_seconds", "file_seconds", "bulk_retries_total",
		"deadletter_total", "chain_breaks_total", "stream_halted", "consensus_lag_seconds",
		"last_block_number", "last_consensus_end_seconds", "events_published_total", "publish_failures_total",
		"transaction_parse_errors_total", "events_duplicate_total", "parsed_stream_bytes", "parsed_stream_limit_bytes",
		"heartbeats_total", "chain_waits_total", "reparsed_total",
	} {
		if _, ok := types[prefix+n]; !ok {
			t.Errorf("%s%s is not exported before the first file (register it with WithLabelValues() at start)", prefix, n)
		}
	}
}
