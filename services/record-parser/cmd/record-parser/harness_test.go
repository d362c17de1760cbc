package main

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/esstub"
	"tributary.dev/services/record-parser/internal/intake"
	"tributary.dev/services/record-parser/internal/parser"
)

// These tests run the real binary as operators do, against real NATS
// (JetStream), PostgreSQL and the Elasticsearch stand-in; the crash test
// uses a build with the faults tag, whose pause points the production
// build does not have.
var binary, faultsBinary string

func TestMain(m *testing.M) {
	var cleanup func()
	var err error
	faultsBinary, cleanup, err = testkit.BuildBinary("record-parser-faults", false, "faults")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer cleanup()
	testkit.MainWithBinary(m, "record-parser", true, &binary)
}

// fixtures holds the real record streams (recordstreams/…).
func fixtures(t testing.TB) string { return filepath.Dir(testkit.HederaStreams(t)) }

func expected(t testing.TB) map[string]testkit.HederaFile { return testkit.HederaExpected(t) }

type harness struct {
	t       *testing.T
	ctx     context.Context
	nats    string
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	esURL   string
	es      *esstub.Server
	dsn     string
	records string
	out     string
	network string

	mu     sync.Mutex
	parsed []parser.Event
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, ctx: context.Background(), nats: testkit.NATS(t), dsn: testkit.Postgres(t),
		records: t.TempDir(), out: t.TempDir(), network: "testnet"}
	h.esURL, h.es = testkit.ElasticsearchServer(t)
	var err error
	if h.nc, err = nats.Connect(h.nats); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.nc.Close)
	h.js, _ = jetstream.New(h.nc)
	if h.stream, err = h.js.CreateStream(h.ctx, intake.StreamConfig("HEDERA_RECORDS")); err != nil {
		t.Fatal(err)
	}
	// Every announcement is checked against its schema as it arrives.
	sub, err := h.nc.Subscribe(parser.SubjectPrefix+">", func(m *nats.Msg) {
		testkit.CheckEvent(t, m.Subject, m.Data)
		var e parser.Event
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Errorf("parsed event: %v", err)
		}
		if m.Subject != parser.SubjectPrefix+e.Node {
			t.Errorf("parsed event for node %s on %s", e.Node, m.Subject)
		}
		h.mu.Lock()
		h.parsed = append(h.parsed, e)
		h.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := h.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return h
}

// put copies record files (and the sidecars each lists) into the record
// dir as the downloader lays them out, and announces them on the stream
// as the downloader does: sidecars first, then the record file. src is the
// fixture directory holding the files.
func (h *harness) put(src, node string, names ...string) []string {
	h.t.Helper()
	var rels []string
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			h.t.Fatal(err)
		}
		rels = append(rels, h.putBytes(src, node, name, data))
	}
	return rels
}

// putBytes is put for a file's bytes; sidecars are read from src/sidecar.
func (h *harness) putBytes(src, node, name string, data []byte) string {
	h.t.Helper()
	start, err := recordstream.NameTime(name)
	if err != nil {
		h.t.Fatal(err)
	}
	day := start.UTC().Format(time.DateOnly)
	fileHash := strings.Repeat("0", 96)
	if f, err := recordstream.Parse(name, data); err == nil {
		fileHash = hex.EncodeToString(f.FileHash)
		for _, sc := range f.Sidecars {
			sdata, err := os.ReadFile(filepath.Join(src, "sidecar", sc.Name))
			if err != nil {
				h.t.Fatal(err)
			}
			h.write(day+"/sidecar/"+sc.Name, sdata)
			h.announce(node, day+"/sidecar/"+sc.Name, "sidecar", start, sdata, hex.EncodeToString(sc.Hash))
		}
	}
	rel := day + "/" + name
	h.write(rel, data)
	h.announce(node, rel, "record", start, data, fileHash)
	return rel
}

// putAs writes and announces a record file (node 3) with the file hash
// the event carries.
func (h *harness) putAs(name string, data []byte, fileHash string) {
	h.t.Helper()
	start, err := recordstream.NameTime(name)
	if err != nil {
		h.t.Fatal(err)
	}
	rel := start.UTC().Format(time.DateOnly) + "/" + name
	h.write(rel, data)
	h.announce("3", rel, "record", start, data, fileHash)
}

func hashOf(t testing.TB, name string, data []byte) string {
	f, err := recordstream.Parse(name, data)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(f.FileHash)
}

// createIndex makes an index by hand, as an operator might.
func (h *harness) createIndex(index, body string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, h.esURL+"/"+index, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		h.t.Fatalf("create index %s: %s %s", index, resp.Status, b)
	}
}

func (h *harness) write(rel string, data []byte) {
	h.t.Helper()
	p := filepath.Join(h.records, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// announce publishes a downloaded event, checked against its schema.
func (h *harness) announce(node, rel, kind string, start time.Time, data []byte, fileHash string) {
	h.t.Helper()
	sum := sha512.Sum384(data)
	e := map[string]any{"v": 1, "host": "test", "utcts": natsbus.UTCTS(time.Now()), "node": node, "bucket": "hedera-test",
		"object": "recordstreams/record0.0." + node + "/" + rel[strings.IndexByte(rel, '/')+1:], "path": rel, "kind": kind,
		"size": len(data), "sha384": hex.EncodeToString(sum[:]), "consensus_start": start.UTC().Format("2006-01-02T15:04:05.000000000Z"),
		"file_hash": fileHash, "signers": []string{node}}
	payload, _ := json.Marshal(e)
	subject := intake.SubjectPrefix + node
	testkit.CheckEvent(h.t, subject, payload)
	if _, err := h.js.Publish(h.ctx, subject, payload, jetstream.WithMsgID("hedera-test/"+rel)); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) env(extra ...string) []string {
	env := append(os.Environ(), "RUN_AS_SERVICE=false", "METRICS_ADDR=", "LOG_LEVEL=warn",
		"RECORD_DIR="+h.records, "OUTPUT_DIR="+h.out, "ELASTICSEARCH_URL="+h.esURL, "TARGET="+h.dsn,
		"NATS="+h.nats, "NETWORK="+h.network, "CONCURRENCY=2", "CHAIN_WAIT=1", "ES_RETRIES=2")
	return append(env, extra...)
}

// run runs the binary to its end and returns its exit code and stderr.
func (h *harness) run(bin string, args []string, extra ...string) (int, string) {
	h.t.Helper()
	c := exec.Command(bin, args...)
	c.Env = h.env(extra...)
	var stderr, stdout bytes.Buffer
	c.Stderr, c.Stdout = &stderr, &stdout
	err := c.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stderr.String() + stdout.String()
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return 0, stderr.String() + stdout.String()
}

// mustRun runs the binary and fails the test unless it exits 0.
func (h *harness) mustRun(args []string, extra ...string) string {
	h.t.Helper()
	code, out := h.run(binary, args, extra...)
	if code != 0 {
		h.t.Fatalf("record-parser %v: exit %d\n%s", args, code, out)
	}
	return out
}

// killAt runs the faults build until it reaches the pause point, then
// kills it with SIGKILL.
func (h *harness) killAt(point string, extra ...string) {
	h.t.Helper()
	c := exec.Command(faultsBinary)
	c.Env = h.env(extra...)
	testkit.KillAt(h.t, c, point)
}

// events is what was announced so far, after NATS delivered it all.
func (h *harness) events() []parser.Event {
	h.t.Helper()
	if err := h.nc.Flush(); err != nil {
		h.t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]parser.Event(nil), h.parsed...)
}

// docs is every document of an index, by id.
func (h *harness) docs(index string) map[string]json.RawMessage {
	return h.es.Docs(index)
}

// ndjson reads every NDJSON output file, by path relative to OUTPUT_DIR
// (dead-letter and quarantine directories left out).
func (h *harness) ndjson() map[string][]byte {
	h.t.Helper()
	out := map[string][]byte{}
	err := filepath.Walk(h.out, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(h.out, p)
		if info.IsDir() {
			if strings.HasPrefix(rel, "_") {
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// lines splits NDJSON into documents by consensus_timestamp, failing on
// a line that is not a JSON object.
func lines(t testing.TB, data []byte) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	for i, l := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		var d struct {
			ID string `json:"consensus_timestamp"`
		}
		if err := json.Unmarshal(l, &d); err != nil || d.ID == "" {
			t.Fatalf("line %d is not a document: %v: %.200s", i+1, err, l)
		}
		out[d.ID] = json.RawMessage(l)
	}
	return out
}

// parsedFiles is the state's parser_files rows: name → outcome.
func (h *harness) parsedFiles() map[string]string { return h.fileColumn("outcome") }

// fileColumn is one column of the state's parser_files rows by name,
// as text; empty before the service has made its tables.
func (h *harness) fileColumn(expr string) map[string]string {
	h.t.Helper()
	out := map[string]string{}
	h.withDB(func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, "SELECT name, ("+expr+")::text FROM parser_files WHERE network = $1", h.network)
		if noTablesYet(err) {
			return nil
		}
		if err != nil {
			return err
		}
		for rows.Next() {
			var n, v string
			if err := rows.Scan(&n, &v); err != nil {
				return err
			}
			out[n] = v
		}
		if err := rows.Err(); err != nil && !noTablesYet(err) {
			return err
		}
		return nil
	})
	return out
}

// withDB runs fn on a connection to the test's database, with a deadline;
// an error fails the test.
func (h *harness) withDB(fn func(ctx context.Context, conn *pgx.Conn) error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, h.dsn)
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := fn(ctx, conn); err != nil {
		h.t.Fatal(err)
	}
}

// noTablesYet says err is PostgreSQL's "relation does not exist": a
// parser just started has not applied its migrations yet (its /readyz
// answers before they run).
func noTablesYet(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01"
}

// countFiles is how many files the state holds; 0 before the service
// has made its tables.
func (h *harness) countFiles() int { return len(h.parsedFiles()) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
