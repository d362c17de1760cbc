package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"tributary.dev/libs/testkit"
	"tributary.dev/services/record-parser/internal/announce"
	"tributary.dev/services/record-parser/internal/ndjson"
	"tributary.dev/services/record-parser/internal/parser"
)

// These tests are the parser's operations: what happens around a file
// rather than to it. Durations an operator sets in seconds or minutes
// (CHAIN_WAIT, ACK_WAIT, the length of a halt) are scaled down here, each
// kept in the same proportion to the others as in the scenario it stands
// for; each test says how.

// proc is a parser running as a service.
type proc struct {
	cmd  *exec.Cmd
	out  *testkit.SyncBuffer
	done chan error
}

// start runs bin in the background (RUN_AS_SERVICE=true unless extra
// says otherwise); it is stopped when the test ends if the test did not.
func (h *harness) start(bin string, args []string, extra ...string) *proc {
	h.t.Helper()
	c := exec.Command(bin, args...)
	c.Env = h.env(append([]string{"RUN_AS_SERVICE=true"}, extra...)...)
	p := &proc{cmd: c, out: &testkit.SyncBuffer{}, done: make(chan error, 1)}
	c.Stdout, c.Stderr = p.out, p.out
	if err := c.Start(); err != nil {
		h.t.Fatal(err)
	}
	go func() { p.done <- c.Wait() }()
	h.t.Cleanup(func() {
		_ = c.Process.Kill()
		<-p.done
		p.done <- nil
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit; it returns the output.
func (p *proc) stop(t *testing.T) string {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("record-parser exited with %v after SIGTERM:\n%s", err, p.out)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("record-parser did not stop within 2 minutes of SIGTERM:\n%s", p.out)
	}
	return p.out.String()
}

// waitFor polls cond every 200ms until it holds, failing after limit
// with what the processes said.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool, procs ...*proc) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			var logs strings.Builder
			for i, p := range procs {
				fmt.Fprintf(&logs, "--- process %d:\n%s\n", i, p.out)
			}
			t.Fatalf("%s: not within %v\n%s", what, limit, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// streamEvent is one message of the parsed stream.
type streamEvent struct {
	parser.Event
	MsgID string
}

// streamEvents reads the parsed stream from its start as a subscriber
// that comes now does: an ordered consumer of every parsed subject.
// Every payload is checked against the schema.
func (h *harness) streamEvents(stream string) []streamEvent {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, time.Minute)
	defer cancel()
	s, err := h.js.Stream(ctx, stream)
	if err != nil {
		h.t.Fatalf("parsed stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	want := int(info.State.Msgs)
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{parser.SubjectPrefix + ">"}})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []streamEvent
	for len(out) < want {
		batch, err := cons.Fetch(want-len(out), jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			h.t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			testkit.CheckEvent(h.t, m.Subject(), m.Data())
			var e streamEvent
			if err := json.Unmarshal(m.Data(), &e.Event); err != nil {
				h.t.Fatalf("parsed event %s: %v", m.Data(), err)
			}
			if m.Subject() != parser.SubjectPrefix+e.Node {
				h.t.Errorf("event of node %s on %s", e.Node, m.Subject())
			}
			e.MsgID = m.Headers().Get(jetstream.MsgIDHeader)
			out = append(out, e)
		}
		if n == 0 {
			h.t.Fatalf("the stream holds %d events, %d read", want, len(out))
		}
	}
	return out
}

// announced is the state's files by name: whether the parsed event went
// out (announced_at set).
func (h *harness) announced() map[string]bool {
	out := map[string]bool{}
	for n, v := range h.fileColumn("announced_at IS NOT NULL") {
		out[n] = v == "true"
	}
	return out
}

// query runs one SQL query returning a single value.
func (h *harness) query(dest any, sql string, args ...any) {
	h.t.Helper()
	h.withDB(func(ctx context.Context, conn *pgx.Conn) error {
		if err := conn.QueryRow(ctx, sql, args...).Scan(dest); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
		return nil
	})
}

// tablesExist says whether the parser's migrations have run.
func (h *harness) tablesExist() bool {
	var ok bool
	h.query(&ok, "SELECT to_regclass('parser_waits') IS NOT NULL")
	return ok
}

// halted is the file the stream is halted at, "" if it is not.
func (h *harness) halted() string {
	if !h.tablesExist() {
		return ""
	}
	var f string
	h.query(&f, "SELECT coalesce((SELECT file FROM parser_halts WHERE network = $1), '')", h.network)
	return f
}

// putGenerated announces generated files of gen in the order given.
func (h *harness) putGenerated(gen string, names []string, order ...int) {
	h.t.Helper()
	for _, i := range order {
		h.put(gen, "3", names[i])
	}
}

// A subscriber that was not there when the files were parsed reads every
// parsed event from the stream, once each, in order, with the file's id —
// although the parser was killed after the stream acknowledged an event
// and before it noted so, and sent that event again after the restart
// (which a plain subscriber sees twice, and the stream dropped). The
// stream carries the limits the variables set.
func TestLateSubscriberReadsEveryEvent(t *testing.T) {
	h := newHarness(t)
	gen := t.TempDir()
	names := genStream(t, gen, 4, 20, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	h.putGenerated(gen, names, 0, 1, 2, 3)
	// ACK_WAIT is short so the files the killed process held come back
	// quickly.
	limits := []string{"PARSED_STREAM=PARSED_TEST", "PARSED_MAX_AGE=86400", "PARSED_MAX_BYTES=10485760", "PARSED_DEDUP_WINDOW=600", "ACK_WAIT=3"}
	h.killAt("after-publish", limits...)
	if a := h.announced(); len(a) != 1 || a[names[0]] {
		t.Fatalf("after the kill: %v, want the first file recorded and not yet noted as announced", a)
	}
	h.mustRun(nil, limits...)

	// The plain subscription saw the first event twice; the stream
	// holds it once.
	if n := len(h.events()); n != len(names)+1 {
		t.Errorf("a plain subscriber saw %d events, want %d (the first sent again after the restart)", n, len(names)+1)
	}
	got := h.streamEvents("PARSED_TEST")
	if len(got) != len(names) {
		t.Fatalf("the late subscriber read %d events, want %d: %+v", len(got), len(names), got)
	}
	for i, e := range got {
		rel := "2024-01-01/" + names[i]
		if e.File != rel || e.Count != 20 || e.MsgID != h.network+"/"+rel {
			t.Errorf("event %d: file %s, count %d, id %q; want %s, 20, %s/%s", i, e.File, e.Count, e.MsgID, rel, h.network, rel)
		}
	}
	for n, a := range h.announced() {
		if !a {
			t.Errorf("%s: announced_at not set", n)
		}
	}
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	s, err := h.js.Stream(ctx, "PARSED_TEST")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if cfg.MaxAge != 24*time.Hour || cfg.MaxBytes != 10485760 || cfg.Duplicates != 10*time.Minute ||
		cfg.Storage != jetstream.FileStorage || cfg.Discard != jetstream.DiscardOld ||
		len(cfg.Subjects) != 1 || cfg.Subjects[0] != announce.SubjectPrefix+">" {
		t.Errorf("stream config %+v", cfg)
	}
}

// announced_at is set only once the stream acknowledged the event: while
// the parsed stream refuses to store (full, with DiscardNew, as an
// operator might set it), files are parsed and recorded but not counted
// announced, and not acked; once it stores again, each event is there
// exactly once and every file is announced.
func TestAnnouncedOnlyOnceTheStreamAcknowledged(t *testing.T) {
	h := newHarness(t)
	gen := t.TempDir()
	names := genStream(t, gen, 3, 10, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	p := h.start(binary, nil, "LOG_LEVEL=info", "CHAIN_WAIT=60")
	ctx, cancel := context.WithTimeout(h.ctx, 3*time.Minute)
	defer cancel()
	var s jetstream.Stream
	waitFor(t, 2*time.Minute, "the parser creates its stream", func() bool {
		var err error
		s, err = h.js.Stream(ctx, "HEDERA_RECORDS_PARSED")
		return err == nil
	}, p)
	full := s.CachedInfo().Config
	full.MaxMsgs, full.Discard = 1, jetstream.DiscardNew
	if _, err := h.js.UpdateStream(ctx, full); err != nil {
		t.Fatal(err)
	}
	h.putGenerated(gen, names, 0, 1, 2)
	waitFor(t, 2*time.Minute, "the second file recorded", func() bool { return len(h.announced()) >= 2 }, p)
	waitFor(t, time.Minute, "a refused announcement", func() bool { return strings.Contains(p.out.String(), "maximum messages exceeded") }, p)
	a := h.announced()
	if !a[names[0]] || a[names[1]] {
		t.Fatalf("announced %v: the first file (stored) yes, the second (refused) not", a)
	}
	full.MaxMsgs, full.Discard = -1, jetstream.DiscardOld
	if _, err := h.js.UpdateStream(ctx, full); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "every file announced", func() bool {
		a := h.announced()
		return len(a) == 3 && a[names[0]] && a[names[1]] && a[names[2]]
	}, p)
	p.stop(t)
	got := h.streamEvents("HEDERA_RECORDS_PARSED")
	if len(got) != 3 {
		t.Fatalf("stream holds %d events, want 3: %+v", len(got), got)
	}
	for i, e := range got {
		if e.File != "2024-01-01/"+names[i] {
			t.Errorf("event %d is of %s, want %s", i, e.File, names[i])
		}
	}
}

// chainBroken counts the chain-break errors in a log.
func chainBroken(log string) int {
	return strings.Count(log, "chain broken: the file does not continue")
}

// A long halt, then the files behind it out of order across two
// replicas: no spurious break. The stream halts at a file whose
// predecessor is late (ON_CHAIN_BREAK=stop); while it is halted the files
// after it keep coming, pairs swapped; the late file arrives after the
// halt has lasted six CHAIN_WAITs; it fills the gap, which lifts the halt
// with no operator, and the two replicas parse the backlog side by side,
// files waiting for the ones before them. Scaled: CHAIN_WAIT 5 s and a
// 30 s halt stand for CHAIN_WAIT's 2 minutes and a halt of many minutes;
// what matters is that the halt is several CHAIN_WAITs long (counted in
// deliveries, as before, the held files would have passed CHAIN_WAIT
// during it).
func TestLongHaltThenOutOfOrderFilesWithTwoReplicas(t *testing.T) {
	h := newHarness(t)
	gen := t.TempDir()
	const files, items = 14, 30
	names := genStream(t, gen, files, items, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	env := []string{"LOG_LEVEL=info", "CHAIN_WAIT=5", "ON_CHAIN_BREAK=stop", "ACK_WAIT=30"}
	// File 4 is late: 5 comes first and breaks after CHAIN_WAIT.
	h.putGenerated(gen, names, 0, 1, 2, 3, 5)
	a, b := h.start(binary, nil, env...), h.start(binary, nil, env...)
	waitFor(t, 3*time.Minute, "the halt at "+names[5], func() bool { return h.halted() == names[5] }, a, b)
	// The halt lasts: the files after it arrive meanwhile, pairs swapped.
	h.putGenerated(gen, names, 7, 6, 9, 8, 11, 10, 13, 12)
	time.Sleep(30 * time.Second)
	if f := h.halted(); f != names[5] {
		t.Fatalf("after 30 s the halt is at %q, want still %s", f, names[5])
	}
	if n := len(h.parsedFiles()); n != 4 {
		t.Fatalf("%d files recorded during the halt, want the 4 before it", n)
	}
	// The late file comes: it is before the halt, so it is parsed, and
	// it closes the gap.
	h.putGenerated(gen, names, 4)
	waitFor(t, 3*time.Minute, "every file parsed", func() bool { return h.countFiles() == files }, a, b)
	logs := a.stop(t) + b.stop(t)

	if h.halted() != "" {
		t.Errorf("still halted at %s", h.halted())
	}
	if n := chainBroken(logs); n != 1 {
		t.Errorf("%d chain breaks reported, want only the real one at %s:\n%s", n, names[5], logs)
	}
	if !strings.Contains(logs, "halt lifted") {
		t.Errorf("no halt lifted in the logs:\n%s", logs)
	}
	// The backlog really came out of order: some file after the halt
	// waited for the one before it.
	waited := false
	for _, n := range names[6:] {
		if regexp.MustCompile(`waiting for the previous file[^\n]*` + regexp.QuoteMeta(n)).MatchString(logs) {
			waited = true
		}
	}
	if !waited {
		t.Errorf("no file after the halt waited for its predecessor: the test did not exercise out-of-order files:\n%s", logs)
	}
	status := h.mustRun([]string{"status"})
	if !strings.Contains(status, "chain breaks: 0") || !strings.Contains(status, "halted: no") ||
		!strings.Contains(status, names[5]+" after "+names[3]) || !strings.Contains(status, names[4]+" came later") {
		t.Errorf("status:\n%s", status)
	}
	events := h.streamEvents("HEDERA_RECORDS_PARSED")
	seen := map[string]int{}
	for _, e := range events {
		seen[e.File]++
	}
	for _, n := range names {
		if seen["2024-01-01/"+n] != 1 {
			t.Errorf("%s announced %d times", n, seen["2024-01-01/"+n])
		}
	}
	if n := len(h.docs("hedera-transactions-2024.01.01")); n != files*items {
		t.Errorf("%d documents, want %d", n, files*items)
	}
}

// metric reads one unlabelled counter from a process's /metrics.
func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	_, body := testkit.Probe(addr, "/metrics")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%s not in /metrics of %s", name, addr)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Elasticsearch slower than ACK_WAIT: the replica that holds a file sends
// heartbeats, so the stream never hands it to the other replica mid-work.
// Every document is written once (_version 1) and every file announced
// once. Scaled: ACK_WAIT 2 s against a bulk request that takes 7 s.
func TestSlowElasticsearchLongerThanAckWait(t *testing.T) {
	h := newHarness(t)
	gen := t.TempDir()
	const files, items = 3, 50
	names := genStream(t, gen, files, items, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	h.es.DelayBulk(7 * time.Second)
	env := []string{"ACK_WAIT=2", "ES_TIMEOUT=60", "CHAIN_WAIT=120", "LOG_LEVEL=info"}
	addrs := []string{testkit.FreeAddr(t), testkit.FreeAddr(t)}
	a := h.start(binary, nil, append(env, "METRICS_ADDR="+addrs[0])...)
	b := h.start(binary, nil, append(env, "METRICS_ADDR="+addrs[1])...)
	testkit.WaitStatus(t, addrs[0], "/readyz", 200, a.out)
	testkit.WaitStatus(t, addrs[1], "/readyz", 200, b.out)
	h.putGenerated(gen, names, 0, 1, 2)
	waitFor(t, 4*time.Minute, "every file announced", func() bool {
		an := h.announced()
		return len(an) == files && an[names[0]] && an[names[1]] && an[names[2]]
	}, a, b)
	heartbeats := metric(t, addrs[0], "tributary_record_parser_heartbeats_total") + metric(t, addrs[1], "tributary_record_parser_heartbeats_total")
	logs := a.stop(t) + b.stop(t)

	versions := h.es.Versions("hedera-transactions-2024.01.01")
	if len(versions) != files*items {
		t.Fatalf("%d documents, want %d", len(versions), files*items)
	}
	for id, v := range versions {
		if v != 1 {
			t.Errorf("document %s written %d times: a file was parsed twice", id, v)
			break
		}
	}
	if heartbeats == 0 {
		t.Error("no heartbeats sent")
	}
	if strings.Contains(logs, "record file failed") {
		t.Errorf("a file failed:\n%s", logs)
	}
	if n := len(h.events()); n != files {
		t.Errorf("%d events published, want %d", n, files)
	}
	if n := len(h.streamEvents("HEDERA_RECORDS_PARSED")); n != files {
		t.Errorf("the stream holds %d events, want %d", n, files)
	}
}

// truncated cuts a record file short, as a disk that lost its tail would.
func truncated(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data[:len(data)/2]
}

// Quarantine, replace, re-parse: the chain is whole again. A record file
// whose copy on disk is cut short is quarantined; the file after it
// breaks the chain. The operator puts the good copy in RECORD_DIR and
// runs `reparse` (stop: the halt lifts with it) or `backfill --force`
// (continue: which before indexed the documents and then failed to
// record the file). Afterwards every file is parsed and announced once,
// no break is open and the quarantine no longer holds the file.
func TestQuarantineReplaceReparse(t *testing.T) {
	for _, tc := range []struct {
		policy string
		fix    func(h *harness, rel string) string
	}{
		{"stop", func(h *harness, rel string) string { return h.mustRun([]string{"reparse", rel}) }},
		{"continue", func(h *harness, rel string) string {
			return h.mustRun([]string{"backfill", "--marker", "2024-01-01", "--force"})
		}},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			h := newHarness(t)
			gen := t.TempDir()
			const files, items = 5, 20
			names := genStream(t, gen, files, items, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
			good, err := os.ReadFile(filepath.Join(gen, names[2]))
			if err != nil {
				t.Fatal(err)
			}
			h.putGenerated(gen, names, 0, 1)
			// The downloader verified the good file; the copy on disk is
			// short.
			h.putAs(names[2], truncated(t, filepath.Join(gen, names[2])), hashOf(t, names[2], good))
			h.putGenerated(gen, names, 3, 4)
			env := []string{"ON_CHAIN_BREAK=" + tc.policy, "CHAIN_WAIT=1"}
			code, out := h.run(binary, nil, env...)
			if tc.policy == "stop" && (code == 0 || h.halted() != names[3]) {
				t.Fatalf("exit %d, halted at %q; want a halt at %s:\n%s", code, h.halted(), names[3], out)
			}
			if tc.policy == "continue" && code != 0 {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			if f := h.parsedFiles(); f[names[2]] != "quarantined" {
				t.Fatalf("state %v: %s not quarantined", f, names[2])
			}
			qcopy := filepath.Join(h.out, "_quarantine", "2024-01-01", names[2])
			for _, p := range []string{qcopy, qcopy + ".reason"} {
				if _, err := os.Stat(p); err != nil {
					t.Fatalf("quarantine: %v", err)
				}
			}
			// Reparse refuses a file that is not quarantined.
			if code, out := h.run(binary, []string{"reparse", "2024-01-01/" + names[1]}, env...); code == 0 || !strings.Contains(out, "not recorded as quarantined") {
				t.Errorf("reparse of a parsed file: exit %d:\n%s", code, out)
			}

			rel := "2024-01-01/" + names[2]
			h.write(rel, good)
			fixed := tc.fix(h, rel)
			if tc.policy == "stop" && (!strings.Contains(fixed, rel+": parsed and recorded") || !strings.Contains(fixed, "the stream is not halted")) {
				t.Errorf("reparse said:\n%s", fixed)
			}
			h.mustRun(nil, env...)

			state := h.parsedFiles()
			for _, n := range names {
				if state[n] != "parsed" {
					t.Errorf("%s: %q, want parsed", n, state[n])
				}
			}
			var reason string
			h.query(&reason, "SELECT reason FROM parser_files WHERE network = $1 AND name = $2", h.network, names[2])
			if !strings.HasPrefix(reason, "re-parsed after quarantine: truncated") {
				t.Errorf("reason %q", reason)
			}
			status := h.mustRun([]string{"status"})
			if !strings.Contains(status, "chain breaks: 0") || !strings.Contains(status, "halted: no") ||
				!strings.Contains(status, names[3]+" after "+names[1]) || !strings.Contains(status, names[2]+" came later") {
				t.Errorf("status:\n%s", status)
			}
			for _, p := range []string{qcopy, qcopy + ".reason"} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("%s still in the quarantine: %v", p, err)
				}
			}
			if got := lines(t, h.ndjson()["2024-01-01/"+strings.TrimSuffix(names[2], ".rcd.gz")+".ndjson"]); len(got) != items {
				t.Errorf("NDJSON of the re-parsed file: %d lines, want %d", len(got), items)
			}
			if n := len(h.docs("hedera-transactions-2024.01.01")); n != files*items {
				t.Errorf("%d documents, want %d", n, files*items)
			}
			seen := map[string]int{}
			for _, e := range h.events() {
				seen[e.File]++
			}
			for _, n := range names {
				if seen["2024-01-01/"+n] != 1 {
					t.Errorf("%s announced %d times, want once", n, seen["2024-01-01/"+n])
				}
			}
		})
	}
}

// temps is the temp files under OUTPUT_DIR/.tmp by owner pid.
func temps(t *testing.T, out string) map[int]ndjson.Owner {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(out, ndjson.TempDir))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	got := map[int]ndjson.Owner{}
	for _, e := range entries {
		o, _, ok := ndjson.ParseTemp(e.Name())
		if !ok {
			t.Errorf("%s in %s is not a temp file", e.Name(), ndjson.TempDir)
			continue
		}
		got[o.PID] = o
	}
	return got
}

// Two parsers' start-ups leave each other's temp files alone. Replica A
// and a backfill stand paused with an NDJSON file half written; another
// replica D starts (its start-up leaves both), pauses the same way and is
// killed; replica C starts, removes what the dead D left and leaves the
// live A's and the backfill's. Once A is gone too, the next start-up of
// its kind removes its leftover, and only a backfill removes the
// backfill's.
func TestStartupLeavesOtherProcessesTempFiles(t *testing.T) {
	h := newHarness(t)
	gen := t.TempDir()
	names := genStream(t, gen, 2, 10, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	h.putGenerated(gen, names, 0, 1)
	const point = "ndjson-temp-written"
	paused := func(args []string, extra ...string) *exec.Cmd {
		c := exec.Command(faultsBinary, args...)
		c.Env = h.env(append([]string{"CONCURRENCY=1"}, extra...)...)
		testkit.PauseAt(t, c, point)
		return c
	}
	a := paused(nil, "RUN_AS_SERVICE=true")
	backfill := paused([]string{"backfill", "--marker", "2024-01-01"})
	// D has a consumer and network of its own, so it gets a file to write.
	d := paused(nil, "RUN_AS_SERVICE=true", "NATS_CONSUMER=replica-d", "NETWORK=testnet-d")
	pids := map[string]int{"A": a.Process.Pid, "backfill": backfill.Process.Pid, "D": d.Process.Pid}
	got := temps(t, h.out)
	for who, pid := range pids {
		want := "service"
		if who == "backfill" {
			want = "backfill"
		}
		if got[pid].Kind != want {
			t.Fatalf("%s's temp file (pid %d, kind %s) is not there: %v", who, pid, want, got)
		}
	}
	_ = d.Process.Kill()
	_ = d.Wait()

	h.mustRun(nil, "NATS_CONSUMER=replica-c", "NETWORK=testnet-c")
	got = temps(t, h.out)
	if _, ok := got[pids["D"]]; ok {
		t.Errorf("the dead replica's temp file is still there: %v", got)
	}
	for _, who := range []string{"A", "backfill"} {
		if _, ok := got[pids[who]]; !ok {
			t.Errorf("a start-up removed %s's temp file while it was writing it", who)
		}
	}

	_ = a.Process.Kill()
	_ = a.Wait()
	h.mustRun(nil, "NATS_CONSUMER=replica-c", "NETWORK=testnet-c")
	got = temps(t, h.out)
	if _, ok := got[pids["A"]]; ok {
		t.Errorf("the service's start-up left the dead replica A's temp file: %v", got)
	}
	if _, ok := got[pids["backfill"]]; !ok {
		t.Error("the service's start-up removed the backfill's temp file")
	}
	_ = backfill.Process.Kill()
	_ = backfill.Wait()
	h.mustRun([]string{"backfill", "--marker", "2024-01-01"}, "NETWORK=testnet-c")
	if got := temps(t, h.out); len(got) != 0 {
		t.Errorf("temp files left after the backfill's start-up: %v", got)
	}
}
