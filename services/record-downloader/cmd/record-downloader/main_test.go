package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/recordstream/streamgen"
	"tributary.dev/libs/setup"
	"tributary.dev/libs/testkit"
)

// These tests run the real binary as operators do, so that kill -9 hits a
// real process with real connections; the crash tests use a build with
// the faults tag, whose pause points the production build does not have.
var binary, faultsBinary string

func TestMain(m *testing.M) {
	var cleanup func()
	var err error
	faultsBinary, cleanup, err = testkit.BuildBinary("record-downloader-faults", false, "faults")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer cleanup()
	testkit.MainWithBinary(m, "record-downloader", true, &binary)
}

type procEnv struct {
	t      *testing.T
	ctx    context.Context
	gcs    *fakestorage.Server
	bucket string
	store  blob.Store
	nats   string
	stream jetstream.Stream
	dest   string
	keys   string
	net    *streamgen.Network
}

func newProcEnv(t *testing.T, nodes int) *procEnv {
	ctx := context.Background()
	e := &procEnv{t: t, ctx: ctx, nats: testkit.NATS(t), dest: t.TempDir(), keys: t.TempDir()}
	e.gcs, e.bucket = testkit.GCS(t)
	var err error
	if e.store, err = blob.Open(ctx, testkit.GCSBucket(e.gcs, e.bucket)); err != nil {
		t.Fatal(err)
	}
	if e.net, err = streamgen.NewNetwork(nodes); err != nil {
		t.Fatal(err)
	}
	if err := e.net.WritePublicKeys(e.keys, func(a string) string { return a + ".pem" }); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(e.nats)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	// The service creates the stream; the test reads it.
	if e.stream, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "HEDERA_RECORDS", Subjects: []string{"hedera.records.downloaded.>"}, Duplicates: time.Hour}); err != nil {
		t.Fatal(err)
	}
	return e
}

// upload puts n generated files of the network's stream in the bucket.
func (e *procEnv) upload(n int, o streamgen.Options) []*streamgen.File {
	e.t.Helper()
	g := e.net.Stream(o)
	var files []*streamgen.File
	var objs []streamgen.Object
	for range n {
		f, err := g.Next()
		if err != nil {
			e.t.Fatal(err)
		}
		o, err := f.Objects("recordstreams/")
		if err != nil {
			e.t.Fatal(err)
		}
		files, objs = append(files, f), append(objs, o...)
	}
	if err := streamgen.Upload(e.ctx, e.store, objs); err != nil {
		e.t.Fatal(err)
	}
	return files
}

func (e *procEnv) cmd(bin string, args []string, extra ...string) *exec.Cmd {
	c := exec.Command(bin, args...)
	c.Env = append(os.Environ(),
		"RUN_AS_SERVICE=false", "METRICS_ADDR=", "LOG_LEVEL=warn",
		"BUCKET=gs://"+e.bucket, "BUCKET_ENDPOINT="+e.gcs.URL(),
		"NODES="+strings.Join(e.net.Accounts(), ","), "NODE_PUBLIC_KEYS="+e.keys,
		"DEST_DIR="+e.dest, "NATS="+e.nats, "CONCURRENCY=4")
	c.Env = append(c.Env, extra...)
	return c
}

// run runs the binary to its end and returns its exit code and stderr.
func (e *procEnv) run(bin string, args []string, extra ...string) (int, string) {
	e.t.Helper()
	c := e.cmd(bin, args, extra...)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	err := c.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stderr.String()
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return 0, stderr.String()
}

// killAt runs the faults build until it reaches the pause point, then
// kills it with SIGKILL.
func (e *procEnv) killAt(point string) {
	e.t.Helper()
	testkit.KillAt(e.t, e.cmd(faultsBinary, nil), point)
}

type event struct {
	Node, Object, Path, Kind string
	Size                     int64
	NodeID                   int64 `json:"node_id"`
}

// events reads the stream, every payload checked against its schema.
func (e *procEnv) events() []event {
	e.t.Helper()
	info, err := e.stream.Info(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []event
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		msg, err := e.stream.GetMsg(e.ctx, seq)
		if err != nil {
			e.t.Fatal(err)
		}
		testkit.CheckEvent(e.t, msg.Subject, msg.Data)
		var ev event
		if err := json.Unmarshal(msg.Data, &ev); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// visible lists the files under the day directories (what the parser
// sees), each checked to be byte for byte an object of the bucket.
func (e *procEnv) visible() []string {
	e.t.Helper()
	var out []string
	err := filepath.Walk(e.dest, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(e.dest, p)
		if info.IsDir() {
			if rel != "." && (strings.HasPrefix(rel, "_") || strings.HasPrefix(rel, ".")) {
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
	return out
}

// checkComplete asserts every visible file equals node 0.0.3's object of
// the same name (every node is honest here, and the first is tried first).
func (e *procEnv) checkComplete(files []string) {
	e.t.Helper()
	for _, rel := range files {
		name := rel[len("2024-01-01/"):]
		got, err := os.ReadFile(filepath.Join(e.dest, rel))
		if err != nil {
			e.t.Fatal(err)
		}
		rc, err := e.store.Open(e.ctx, "recordstreams/record0.0.3/"+name)
		if err != nil {
			e.t.Fatalf("%s: %v", rel, err)
		}
		want, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, want) {
			e.t.Errorf("%s: %d bytes visible, the object has %d: a partial file under its final name", rel, len(got), len(want))
		}
	}
}

// kill -9 while a record file is half written to its temp file: nothing
// partial is visible, nothing was announced; the restart writes every
// file whole and announces each object exactly once.
func TestKill9MidDownload(t *testing.T) {
	e := newProcEnv(t, 3)
	files := e.upload(4, streamgen.Options{SidecarEvery: 2, TxBytes: 4000})
	e.killAt("write-record")
	vis := e.visible()
	e.checkComplete(vis)
	for _, f := range vis {
		if strings.HasSuffix(f, ".rcd.gz") && !strings.Contains(f, "/sidecar/") {
			t.Errorf("record file %s visible though the process was killed writing the first one", f)
		}
	}
	if tmp, _ := os.ReadDir(filepath.Join(e.dest, ".tmp")); len(tmp) == 0 {
		t.Errorf("no temp file: the kill did not come mid-write")
	}
	if ev := e.events(); len(ev) != 0 {
		t.Errorf("announced before any record file was written: %+v", ev)
	}

	if code, stderr := e.run(binary, nil); code != 0 {
		t.Fatalf("restart exited %d: %s", code, stderr)
	}
	vis = e.visible()
	e.checkComplete(vis)
	records := 0
	for _, f := range vis {
		if strings.HasSuffix(f, ".rcd.gz") && !strings.Contains(f, "/sidecar/") {
			records++
		}
	}
	if records != len(files) {
		t.Errorf("%d record files after the restart, want %d: %v", records, len(files), vis)
	}
	checkOnce(t, e.events(), len(vis))
	if tmp, _ := os.ReadDir(filepath.Join(e.dest, ".tmp")); len(tmp) != 0 {
		t.Errorf("temp files left: %v", tmp)
	}
}

// kill -9 after a file was announced and before its position was saved:
// the restart sends its events again and the stream drops them.
func TestKill9AfterPublish(t *testing.T) {
	e := newProcEnv(t, 3)
	files := e.upload(3, streamgen.Options{})
	e.killAt("after-publish")
	// The first commit covers the files done by then: each with its
	// record and signature event.
	if n := len(e.events()); n == 0 || n%2 != 0 {
		t.Fatalf("%d events before the kill, want record and signature of the first files", n)
	}
	if code, stderr := e.run(binary, nil); code != 0 {
		t.Fatalf("restart exited %d: %s", code, stderr)
	}
	vis := e.visible()
	e.checkComplete(vis)
	if len(vis) != 2*len(files) {
		t.Errorf("visible %v", vis)
	}
	checkOnce(t, e.events(), len(vis))
}

// checkOnce asserts every object was announced exactly once and that
// want events are there.
func checkOnce(t *testing.T, events []event, want int) {
	t.Helper()
	seen := map[string]int{}
	for _, ev := range events {
		seen[ev.Object]++
	}
	for obj, n := range seen {
		if n != 1 {
			t.Errorf("%s announced %d times", obj, n)
		}
	}
	if len(events) != want {
		t.Errorf("%d events, want %d (one per visible file)", len(events), want)
	}
}

// The backfill verb: files under the marker only, the live position
// untouched; a marker with nothing under it exits 1 and says so.
func TestBackfillVerb(t *testing.T) {
	e := newProcEnv(t, 2)
	e.upload(3, streamgen.Options{Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})
	code, stderr := e.run(binary, []string{"backfill", "--marker", "2024-01-01T00_00_02"})
	if code != 0 {
		t.Fatalf("backfill exited %d: %s", code, stderr)
	}
	vis := e.visible()
	if len(vis) != 2 || !strings.HasPrefix(vis[0], "2024-01-01/2024-01-01T00_00_02") {
		t.Errorf("backfill wrote %v, want the one file under the marker and its signature", vis)
	}
	if _, err := os.Stat(filepath.Join(e.dest, "_state", "live.json")); err == nil {
		t.Error("backfill saved a live position")
	}
	code, stderr = e.run(binary, []string{"backfill", "--marker", "2023-12-31"})
	if code != 1 || !strings.Contains(stderr, "no objects under the backfill marker") || !strings.Contains(stderr, "2023-12-31") {
		t.Errorf("empty marker: exit %d, %s", code, stderr)
	}
	code, stderr = e.run(binary, []string{"backfill"})
	if code != 1 || !strings.Contains(stderr, "--marker is required") {
		t.Errorf("no marker: exit %d, %s", code, stderr)
	}
}

// --help and the README list every variable the config reads.
func TestHelpAndReadmeListEveryVariable(t *testing.T) {
	out, err := exec.Command(binary, "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range setup.Variables(&Config{}) {
		if !strings.Contains(string(out), v) {
			t.Errorf("--help does not list %s", v)
		}
		if !strings.Contains(string(readme), "`"+v+"`") {
			t.Errorf("README does not list `%s`", v)
		}
	}
	if !strings.Contains(string(out), "backfill --marker") {
		t.Error("--help does not list the backfill verb")
	}
}
