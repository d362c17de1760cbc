package downloader

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/streamgen"
	"tributary.dev/libs/runner"
	"tributary.dev/services/record-downloader/internal/announce"
)

func network(t testing.TB, n int) *streamgen.Network {
	t.Helper()
	net, err := streamgen.NewNetwork(n)
	if err != nil {
		t.Fatal(err)
	}
	return net
}

// generate makes n consecutive files of a stream starting at start.
func generate(t testing.TB, net *streamgen.Network, n int, o streamgen.Options) []*streamgen.File {
	t.Helper()
	g := net.Stream(o)
	out := make([]*streamgen.File, n)
	for i := range out {
		f, err := g.Next()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = f
	}
	return out
}

func objects(t testing.TB, files []*streamgen.File) []streamgen.Object {
	t.Helper()
	var out []streamgen.Object
	for _, f := range files {
		objs, err := f.Objects(prefix)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, objs...)
	}
	return out
}

// checkWritten asserts the record file of f is in the day directory with
// the hash every honest node signed, and its sidecars beside it.
func checkWritten(t testing.TB, e *env, f *streamgen.File) {
	t.Helper()
	rel := f.Consensus.UTC().Format("2006-01-02") + "/" + f.Name
	data, err := os.ReadFile(filepath.Join(e.dest, rel))
	if err != nil {
		t.Fatalf("%s not written: %v", rel, err)
	}
	rf, err := recordstream.Parse(f.Name, data)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if !bytes.Equal(rf.FileHash, f.Record.FileHash) {
		t.Errorf("%s: hash %x, the honest nodes signed %x", rel, rf.FileHash, f.Record.FileHash)
	}
	for _, sc := range f.Sidecars {
		if _, err := os.Stat(filepath.Join(e.dest, filepath.Dir(rel), "sidecar", sc.Name)); err != nil {
			t.Errorf("sidecar %s: %v", sc.Name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dest, strings.TrimSuffix(rel, ".gz")+"_sig")); err != nil {
		t.Errorf("signature beside %s: %v", rel, err)
	}
}

// byKind splits events by kind, records keyed by object base name.
func recordEvents(events []announce.Event) map[string]announce.Event {
	out := map[string]announce.Event{}
	for _, ev := range events {
		if ev.Kind == "record" {
			out[ev.Object[strings.LastIndexByte(ev.Object, '/')+1:]] = ev
		}
	}
	return out
}

// Four nodes, a third must agree (2 of 4): node 0.0.6 is absent
// throughout, and on each file a different way of going wrong hits the
// nodes tried first. Every file is still written from an honest copy, the
// bad copies are quarantined with their reasons, nothing bad announced.
// One table over both backends: versitygw (S3) and fake-gcs-server.
func TestConsensusWithBadNodes(t *testing.T) {
	net := network(t, 4)
	for _, backend := range []struct {
		name  string
		store func(testing.TB) blob.Store
	}{{"gcs", gcsStore}, {"s3", s3Store}} {
		t.Run(backend.name, func(t *testing.T) {
			files := generate(t, net, 4, streamgen.Options{SidecarEvery: 1})
			set := func(f *streamgen.File, node string, fault streamgen.Fault) {
				if err := f.SetFault(node, fault); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range files {
				set(f, "0.0.6", streamgen.Absent)
			}
			set(files[0], "0.0.3", streamgen.Tampered)     // hash differs from what it signed
			set(files[1], "0.0.3", streamgen.BadSignature) // not a signer at all
			set(files[2], "0.0.3", streamgen.NotGzip)
			set(files[2], "0.0.4", streamgen.Truncated)
			set(files[3], "0.0.3", streamgen.BadSidecar) // its record is fine; the sidecar comes from 0.0.4
			store := backend.store(t)
			upload(t, store, objects(t, files))

			e := newEnv(t, store, net.Book(), []string{"0.0.3", "0.0.4", "0.0.5", "0.0.6"}, "1/3")
			res := e.pass()
			if res.Files != 4 || res.Skipped != 0 || res.Unchained != 0 || res.Waiting != "" {
				t.Fatalf("result %+v, want 4 files", res)
			}
			for _, f := range files {
				checkWritten(t, e, f)
			}
			recs := recordEvents(e.events())
			for i, want := range []struct {
				node    string
				signers string
			}{{"4", "3 4 5"}, {"4", "4 5"}, {"5", "3 4 5"}, {"3", "3 4 5"}} {
				ev, ok := recs[files[i].Name]
				if !ok {
					t.Errorf("file %d not announced", i)
					continue
				}
				if ev.Node != want.node || strings.Join(ev.Signers, " ") != want.signers {
					t.Errorf("file %d: written from node %s signed by %v, want node %s signed by %s", i, ev.Node, ev.Signers, want.node, want.signers)
				}
				if ev.FileHash != hexOf(files[i].Record.FileHash) {
					t.Errorf("file %d: announced hash %s", i, ev.FileHash)
				}
			}
			if len(recs) != 4 {
				t.Errorf("%d record events, want 4", len(recs))
			}
			for reason, want := range map[string]float64{"hash_mismatch": 2, "bad_signature": 1, "bad_gzip": 1, "truncated": 1} {
				if got := testutil.ToFloat64(e.m.Quarantined.WithLabelValues(reason)); got != want {
					t.Errorf("quarantined %s: %v, want %v", reason, got, want)
				}
			}
			if got := testutil.ToFloat64(e.m.SigFailures.WithLabelValues("0.0.3")); got != 1 {
				t.Errorf("signature failures of 0.0.3: %v, want 1", got)
			}
			for _, node := range []string{"0.0.4", "0.0.5", "0.0.6"} {
				if got := testutil.ToFloat64(e.m.SigFailures.WithLabelValues(node)); got != 0 {
					t.Errorf("signature failures of %s: %v", node, got)
				}
			}
			// Each quarantined file has its reason beside it.
			reasons := 0
			for _, f := range e.files() {
				if strings.HasPrefix(f, "_quarantine/") && strings.HasSuffix(f, ".reason") {
					reasons++
					b, _ := os.ReadFile(filepath.Join(e.dest, f))
					if !strings.Contains(string(b), "reason: ") || !strings.Contains(string(b), "object: "+prefix) {
						t.Errorf("%s: %s", f, b)
					}
					if _, err := os.Stat(filepath.Join(e.dest, strings.TrimSuffix(f, ".reason"))); err != nil {
						t.Errorf("%s without its file: %v", f, err)
					}
				}
			}
			if reasons != 5 {
				t.Errorf("%d reason files, want 5: %v", reasons, e.files())
			}
			// No announced path is under the quarantine.
			for _, ev := range e.events() {
				if strings.HasPrefix(ev.Path, "_") {
					t.Errorf("announced %s", ev.Path)
				}
			}
		})
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// Too few nodes sign: nothing is written, nothing announced, the position
// stays, and a later pass with the missing signatures does the work.
func TestRatioNotReached(t *testing.T) {
	net := network(t, 4)
	files := generate(t, net, 2, streamgen.Options{})
	for _, f := range files {
		f.SetFault("0.0.5", streamgen.Absent)
		f.SetFault("0.0.6", streamgen.Forked) // signs validly, a different hash
	}
	store := gcsStore(t)
	upload(t, store, objects(t, files))
	e := newEnv(t, store, net.Book(), []string{"0.0.3", "0.0.4", "0.0.5", "0.0.6"}, "3/4") // 3 of 4
	res := e.pass()
	if res.Files != 0 || res.Skipped != 0 {
		t.Fatalf("result %+v, want nothing", res)
	}
	if got := e.records(); len(got) != 0 {
		t.Fatalf("written: %v", got)
	}
	if ev := e.events(); len(ev) != 0 {
		t.Fatalf("announced: %+v", ev)
	}
	if got := total(e.m.ConsensusFail); got != 0 {
		t.Errorf("consensus failures %v: the newest files wait, they are not failures", got)
	}
	if _, err := os.Stat(filepath.Join(e.dest, "_state", "live.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("position saved: %v", err)
	}
	// Node 0.0.5 catches up: three now sign the same hash.
	for _, f := range files {
		f.SetFault("0.0.5", streamgen.Honest)
		objs, err := f.NodeObjects(prefix, "0.0.5")
		if err != nil {
			t.Fatal(err)
		}
		upload(t, store, objs)
	}
	if res := e.pass(); res.Files != 2 {
		t.Fatalf("after 0.0.5 caught up: %+v", res)
	}
	for _, f := range files {
		checkWritten(t, e, f)
	}
}

// A consensus time whose signatures are late: the file after it is
// agreed, but it does not continue the chain from the last file written,
// so nothing after the position is written — no gap, no break — and the
// stream waits on the chain, naming the time. When the late signature
// arrives, both are written, in order.
func TestLateSignatureWaitsOnTheChain(t *testing.T) {
	net := network(t, 3)
	files := generate(t, net, 4, streamgen.Options{})
	for _, node := range []string{"0.0.4", "0.0.5"} {
		files[1].SetFault(node, streamgen.Absent) // signed by one node so far
		files[3].SetFault(node, streamgen.Absent)
	}
	store := gcsStore(t)
	upload(t, store, objects(t, files))
	e := newEnv(t, store, net.Book(), nil, "1/2") // 2 of 3
	res := e.pass()
	stem := func(f *streamgen.File) string { return strings.TrimSuffix(f.Name, ".rcd.gz") }
	if res.Files != 1 || res.Skipped != 0 || res.Waiting != stem(files[1]) || !res.WaitingOnChain || res.Unchained != 1 {
		t.Fatalf("result %+v, want file 0 written and a wait on the chain at file 1", res)
	}
	if got := e.records(); len(got) != 1 {
		t.Errorf("written %v: a file after the gap was written", got)
	}
	checkWritten(t, e, files[0])
	if got := total(e.m.ConsensusFail); got != 0 {
		t.Errorf("consensus failures %v: the file is late, not passed over", got)
	}
	if got := testutil.ToFloat64(e.m.Unchained.WithLabelValues("0.0.3")); got != 1 {
		t.Errorf("unchained copies of 0.0.3: %v, want 1 (file 2 does not follow file 0)", got)
	}
	e.m.chainWait(res)
	if got := testutil.ToFloat64(e.m.ChainWait.WithLabelValues(stem(files[1]))); got == 0 {
		t.Error("no chain_wait_since_timestamp_seconds series names the file waited at")
	}
	// Passes while the signature is missing change nothing.
	if res := e.pass(); res.Files != 0 || res.Waiting != stem(files[1]) {
		t.Fatalf("second pass %+v", res)
	}
	// The late signature arrives (the record file was there already).
	files[1].SetFault("0.0.4", streamgen.Honest)
	objs, err := files[1].NodeObjects(prefix, "0.0.4")
	if err != nil {
		t.Fatal(err)
	}
	upload(t, store, objs)
	res = e.pass()
	if res.Files != 2 || res.Skipped != 0 || res.Waiting != stem(files[3]) || res.WaitingOnChain {
		t.Fatalf("after the late signature: %+v, want files 1 and 2, then file 3 waiting for signatures", res)
	}
	e.m.chainWait(res)
	if n := testutil.CollectAndCount(e.m.ChainWait); n != 0 {
		t.Errorf("%d chain-wait series after the wait ended", n)
	}
	for _, f := range files[:3] {
		checkWritten(t, e, f)
	}
	// Announced in consensus order, each record once.
	var order []string
	for _, ev := range e.events() {
		if ev.Kind == "record" {
			order = append(order, ev.Path)
		}
	}
	if len(order) != 3 || !sort.StringsAreSorted(order) {
		t.Errorf("records announced %v", order)
	}
}

// A consensus time that only one node signed and that the next agreed
// file does not need — it continues the chain from the file before —
// is not part of the stream: counted and passed over, as the mirror node
// does when the next group verifies.
func TestNoConsensusPassedOverWhenTheChainGoesOn(t *testing.T) {
	net := network(t, 3)
	files := generate(t, net, 3, streamgen.Options{})
	// A stray file between file 0 and file 1, written by node 0.0.3 alone.
	stray := generate(t, net, 1, streamgen.Options{Start: files[0].Consensus.Add(time.Second), Seed: 9})[0]
	objs := objects(t, files)
	strayObjs, err := stray.NodeObjects(prefix, "0.0.3")
	if err != nil {
		t.Fatal(err)
	}
	store := gcsStore(t)
	upload(t, store, append(objs, strayObjs...))
	e := newEnv(t, store, net.Book(), nil, "1/2")
	res := e.pass()
	if res.Files != 3 || res.Skipped != 1 || res.Waiting != "" {
		t.Fatalf("result %+v, want 3 files and the stray one passed over", res)
	}
	if got := total(e.m.ConsensusFail); got != 1 {
		t.Errorf("consensus failures %v, want 1", got)
	}
	for _, f := range files {
		checkWritten(t, e, f)
	}
	if got := e.records(); len(got) != 3 {
		t.Errorf("written %v", got)
	}
}

// A restart resumes after the last file done: the new files only, each
// announced once; and a replay after the position was lost is dropped by
// the stream (the same Nats-Msg-Id).
func TestResumeAfterRestart(t *testing.T) {
	net := network(t, 3)
	all := generate(t, net, 5, streamgen.Options{SidecarEvery: 2})
	store := gcsStore(t)
	upload(t, store, objects(t, all[:3]))
	nodes := []string{"0.0.3", "0.0.4", "0.0.5"}
	e := newEnv(t, store, net.Book(), nodes, "1/3")
	if res := e.pass(); res.Files != 3 {
		t.Fatalf("first pass: %+v", res)
	}
	first := len(e.events())

	upload(t, store, objects(t, all[3:]))
	e.reopen()
	res := e.pass()
	if res.Files != 2 || res.Last != strings.TrimSuffix(all[4].Name, ".rcd.gz") {
		t.Fatalf("after restart: %+v", res)
	}
	events := e.events()
	seen := map[string]bool{}
	for _, ev := range events {
		if seen[ev.Object] {
			t.Errorf("%s announced twice", ev.Object)
		}
		seen[ev.Object] = true
	}
	if recs := recordEvents(events); len(recs) != 5 {
		t.Errorf("%d records announced, want 5", len(recs))
	}
	for _, f := range all {
		checkWritten(t, e, f)
	}
	e.reopen()
	if res := e.pass(); res.Files != 0 {
		t.Errorf("third pass wrote %+v", res)
	}

	// The position lost: everything is written again (the same bytes)
	// and published again, and the stream keeps one copy of each.
	if err := os.Remove(filepath.Join(e.dest, "_state", "live.json")); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if res := e.pass(); res.Files != 5 {
		t.Fatalf("replay: %+v", res)
	}
	if got := len(e.events()); got != len(events) || first >= got {
		t.Errorf("stream holds %d events after the replay, want %d", got, len(events))
	}
}

// Backfill takes only the files under the marker, never moves the live
// position, resumes by its own, fetches nothing it already has, and says
// so when the marker matches nothing.
func TestBackfill(t *testing.T) {
	net := network(t, 3)
	// One stream, a file every 20 minutes: three before 01:00, three after.
	all := generate(t, net, 6, streamgen.Options{Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Interval: 20 * time.Minute, SidecarEvery: 1})
	late := all[3:]
	store := gcsStore(t)
	upload(t, store, objects(t, all))
	e := newEnv(t, store, net.Book(), []string{"0.0.3", "0.0.4", "0.0.5"}, "1/3")

	res, err := e.d.Backfill(e.ctx, "2024-01-01T01")
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 3 {
		t.Fatalf("backfill: %+v", res)
	}
	for _, f := range late {
		checkWritten(t, e, f)
	}
	if got := e.records(); len(got) != 3 {
		t.Errorf("written %v, want the three under the marker", got)
	}
	if _, err := os.Stat(filepath.Join(e.dest, "_state", "live.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("backfill touched the live position: %v", err)
	}
	if recs := recordEvents(e.events()); len(recs) != 3 {
		t.Errorf("%d records announced", len(recs))
	}

	// Run again: its own position says it is done.
	if res, err := e.d.Backfill(e.ctx, "2024-01-01T01"); err != nil || res.Files+res.Present != 0 {
		t.Errorf("second backfill: %+v %v", res, err)
	}
	// Without its position (a crash before it was saved): the files are
	// found in place and verified, not fetched again.
	if err := os.Remove(filepath.Join(e.dest, "_state", "backfill-2024-01-01T01.json")); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	res, err = e.d.Backfill(e.ctx, "2024-01-01T01")
	if err != nil || res.Files != 0 || res.Present != 3 {
		t.Errorf("backfill over present files: %+v %v", res, err)
	}
	if n := testutil.CollectAndCount(e.m.Download); n != 1 { // signatures only
		t.Errorf("%d download series: records or sidecars were fetched again", n)
	}
	if recs := recordEvents(e.events()); len(recs) != 3 {
		t.Errorf("%d records in the stream after the rerun, want 3", len(recs))
	}

	// The live stream then starts from the bucket's start, unaffected.
	if res := e.pass(); res.Files != 6 {
		t.Errorf("live pass after backfill: %+v", res)
	}

	// Nothing under the marker: an error that says so.
	_, err = e.d.Backfill(e.ctx, "2023-05")
	if !errors.Is(err, ErrEmptyRange) || !strings.Contains(err.Error(), "2023-05") {
		t.Errorf("empty range: %v", err)
	}
	if _, err := e.d.Backfill(e.ctx, "../2024"); err == nil {
		t.Error("marker with a path trick accepted")
	}
}

// Objects whose names are not record-stream names — path tricks among
// them — are refused before any path is built and counted; the real files
// around them are downloaded as usual.
func TestPathTraversalNames(t *testing.T) {
	net := network(t, 1)
	files := generate(t, net, 2, streamgen.Options{})
	objs := objects(t, files)
	sig := objs[len(objs)-1].Body
	for _, key := range []string{
		prefix + "record0.0.3/../../../escape/2024-01-01T00_00_01.000000000Z.rcd_sig",
		prefix + "record0.0.3/2024-01-01T00_00_01.000000000Z.rcd_sig/../../x.rcd_sig",
		prefix + "record0.0.3/..%2f..%2f2024-01-01T00_00_01.000000000Z.rcd_sig",
		prefix + "record0.0.3/2024-01-01T00_00_01.000000000Z.rcd_sig/..",
		prefix + "record0.0.3/2024-01-01T00_00_01.000000000Z.rcd_sig\\..\\x",
		prefix + "record0.0.3/2024-01-01T00_00_01.000000000Z.rcd_sig.exe",
		prefix + "record0.0.3/README",
	} {
		objs = append(objs, streamgen.Object{Key: key, Body: sig})
	}
	store := gcsStore(t)
	upload(t, store, objs)
	e := newEnv(t, store, net.Book(), []string{"0.0.3"}, "1")
	res := e.pass()
	if res.Files != 2 {
		t.Fatalf("result %+v", res)
	}
	for _, f := range files {
		checkWritten(t, e, f)
	}
	if got := testutil.ToFloat64(e.m.Quarantined.WithLabelValues("bad_name")); got != 7 {
		t.Errorf("bad names counted %v, want 7", got)
	}
	// Names under sidecar/ are never listed (the listing stops where
	// sidecars start); one with a path trick is not even seen.
	upload(t, store, []streamgen.Object{{Key: prefix + "record0.0.3/sidecar/../2024-01-01T00_00_09.000000000Z.rcd_sig", Body: sig}})
	e.pass()
	// Nothing outside the two day files and their signatures.
	for _, f := range e.files() {
		if !strings.HasPrefix(f, "2024-01-01/2024-01-01T00_00_0") {
			t.Errorf("unexpected file %s", f)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(e.dest), "escape")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file escaped the destination: %v", err)
	}
	// A second pass meets them again and does not count them twice.
	e.pass()
	if got := testutil.ToFloat64(e.m.Quarantined.WithLabelValues("bad_name")); got != 7 {
		t.Errorf("bad names counted %v after a second pass", got)
	}
}

// A stop asked for during a pass (SIGTERM) ends it after the files in
// hand are committed: no error, a consistent position, and the next pass
// does the rest, each file announced once.
func TestStopMidPass(t *testing.T) {
	net := network(t, 2)
	files := generate(t, net, 12, streamgen.Options{})
	store := gcsStore(t)
	upload(t, store, objects(t, files))
	parent, stop := context.WithCancel(context.Background())
	work, cancel := runner.WorkContext(parent, 0)
	defer cancel()
	// The process is asked to stop as the second record file is read, so
	// the pass is certainly mid-work, however fast the machine: with one
	// download at a time, every file not yet started sees the stop.
	e := newEnv(t, &stopOnRecord{Store: store, stop: stop, at: 2}, net.Book(), []string{"0.0.3", "0.0.4"}, "1")
	e.cfg.Concurrency = 1
	e.reopen()
	res, err := e.d.Pass(work)
	if err != nil {
		t.Fatal(err)
	}
	// Downloads start in no fixed order, so the stopped pass may have
	// committed none (the first file in consensus order saw the stop),
	// but never all: only the few already in flight finish.
	if res.Files == len(files) {
		t.Fatalf("stopped pass wrote all %d files", len(files))
	}
	rest := e.pass()
	if res.Files+rest.Files != len(files) {
		t.Errorf("%d + %d files, want %d", res.Files, rest.Files, len(files))
	}
	seen := map[string]bool{}
	for _, ev := range e.events() {
		if seen[ev.Object] {
			t.Errorf("%s announced twice", ev.Object)
		}
		seen[ev.Object] = true
	}
	for _, f := range files {
		checkWritten(t, e, f)
	}
}

// stopOnRecord is the test's bucket, which asks the process to stop
// when the at-th record file is read from it.
type stopOnRecord struct {
	blob.Store
	stop  func()
	at    int32
	reads atomic.Int32
}

func (s *stopOnRecord) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	s.read(key)
	return s.Store.Open(ctx, key)
}

func (s *stopOnRecord) ReadRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	s.read(key)
	return s.Store.ReadRange(ctx, key, off, n)
}

func (s *stopOnRecord) read(key string) {
	if strings.HasSuffix(key, ".rcd.gz") && !strings.Contains(key, "/sidecar/") && s.reads.Add(1) == s.at {
		s.stop()
	}
}
