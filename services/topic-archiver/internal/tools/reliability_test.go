package tools

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/metrics"
	"tributary.dev/libs/testkit"
	"tributary.dev/services/topic-archiver/internal/archive"
	"tributary.dev/services/topic-archiver/internal/index"
)

func (e *env) objects() int {
	e.t.Helper()
	n := 0
	if err := e.store.List(e.ctx, "archive/", "", func(blob.Object) error { n++; return nil }); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func payloads(n, size int, prefix string) []kafka.Message {
	return messages(n, func(i int) kafka.Message {
		v := bytes.Repeat([]byte{byte(i)}, size)
		copy(v, fmt.Sprintf("%s-%d-", prefix, i))
		return kafka.Message{Value: v}
	})
}

// TestCursorResetStoresNothingTwice replays a topic from the start under a
// new group — a cursor reset — and expects every message recognised.
func TestCursorResetStoresNothingTwice(t *testing.T) {
	for _, mode := range []archive.Mode{archive.ObjectMode, archive.SegmentMode} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t)
			e.produce("events", payloads(80, 100, "e")...)
			stop := e.archiver(mode)
			e.waitCount("events", 80, 30*time.Second)
			stop()
			objects := e.objects()

			m := archive.NewMetrics(metrics.New("topic-archiver"))
			stop = e.archiverWith(mode, m, func(c *archive.Config) { c.Group = "reset" })
			deadline := time.Now().Add(30 * time.Second)
			for testutil.ToFloat64(m.Duplicates.WithLabelValues("events")) < 80 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			stop()
			if d := testutil.ToFloat64(m.Duplicates.WithLabelValues("events")); d != 80 {
				t.Fatalf("duplicates_total = %v, want 80", d)
			}
			if n := e.count("events"); n != 80 {
				t.Fatalf("index holds %d, want 80", n)
			}
			if n := e.objects(); n != objects {
				t.Fatalf("%d objects after the replay, %d before: something was stored twice", n, objects)
			}
		})
	}
}

// TestProducerResendStoredOnce has a producer send the same ten messages,
// _id and payload, again at new offsets after the first ten are
// archived: the lookup by producer id recognises them before anything is
// written. In segment mode a resend that got past it would be written
// into a new segment before the index refused it, so the object count
// tells. The same ten ids on other payloads are other messages: stored,
// and counted as reused ids.
func TestProducerResendStoredOnce(t *testing.T) {
	e := newEnv(t)
	withIDs := func(round string) []kafka.Message {
		return messages(10, func(i int) kafka.Message {
			id := bytes.Repeat([]byte{byte(0xa0 + i)}, 16)
			return kafka.Message{Value: []byte(fmt.Sprintf("%s-%d", round, i)), Headers: []kafka.Header{{Key: "_id", Value: id}}}
		})
	}
	m := archive.NewMetrics(metrics.New("topic-archiver"))
	stop := e.archiverWith(archive.SegmentMode, m, func(c *archive.Config) { c.SegmentAge = 200 * time.Millisecond })
	defer stop()
	e.produce("resent", withIDs("first")...)
	e.waitCount("resent", 10, 30*time.Second)
	objects := e.objects()
	e.produce("resent", withIDs("first")...)
	deadline := time.Now().Add(30 * time.Second)
	for testutil.ToFloat64(m.Duplicates.WithLabelValues("resent")) < 10 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if d := testutil.ToFloat64(m.Duplicates.WithLabelValues("resent")); d != 10 {
		t.Fatalf("duplicates_total = %v, want 10", d)
	}
	if n := e.count("resent"); n != 10 {
		t.Fatalf("index holds %d, want 10", n)
	}
	if n := e.objects(); n != objects || objects == 0 {
		t.Fatalf("%d segments after the resend, %d before: a resent message was written", n, objects)
	}
	e.produce("resent", withIDs("other")...)
	e.waitCount("resent", 20, 30*time.Second)
	if r := testutil.ToFloat64(m.SuspectIDs.WithLabelValues("resent", "reused")); r != 10 {
		t.Fatalf("suspect_ids_total{kind=reused} = %v, want 10", r)
	}
}

// TestTwoReplicasSplitPartitions runs two archivers in one group: both
// must own partitions — each stores messages — and together they store
// every message once. The first may take everything before the second has
// joined, so a trickle goes on until both have stored some.
func TestTwoReplicasSplitPartitions(t *testing.T) {
	e := newEnv(t)
	e.produce("split", payloads(400, 64, "s")...)
	m1 := archive.NewMetrics(metrics.New("topic-archiver"))
	m2 := archive.NewMetrics(metrics.New("topic-archiver"))
	stop1 := e.archiverWith(archive.SegmentMode, m1)
	stop2 := e.archiverWith(archive.SegmentMode, m2)
	e.waitCount("split", 400, 60*time.Second)
	stored := func() (float64, float64) {
		return testutil.ToFloat64(m1.Messages.WithLabelValues("split")), testutil.ToFloat64(m2.Messages.WithLabelValues("split"))
	}
	// Four messages a round, one per partition with the writer's
	// round-robin: whoever owns a partition stores its share.
	sent := 400
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); {
		if a, b := stored(); a > 0 && b > 0 {
			break
		}
		e.produce("split", payloads(4, 64, fmt.Sprintf("t%d", sent))...)
		sent += 4
		time.Sleep(200 * time.Millisecond)
	}
	e.waitCount("split", sent, 60*time.Second)
	stop1()
	stop2()
	a, b := stored()
	if a == 0 || b == 0 {
		t.Fatalf("replica 1 stored %v, replica 2 %v messages: one of them owned no partition", a, b)
	}
	if a+b != float64(sent) {
		t.Fatalf("replicas stored %v + %v messages, want %d in all", a, b, sent)
	}
	if n := e.count("split"); n != sent {
		t.Fatalf("index holds %d, want %d", n, sent)
	}
}

// TestS3OutagePausesWithoutLoss stops the S3 server while messages
// arrive, checks nothing is indexed or committed meanwhile, then restarts
// it and expects every message.
func TestS3OutagePausesWithoutLoss(t *testing.T) {
	e := newEnv(t)
	srv := testkit.RunS3(t)
	b, err := srv.CreateBucket(e.ctx, "outage")
	if err != nil {
		t.Fatal(err)
	}
	if e.store, err = blob.Open(e.ctx, b); err != nil {
		t.Fatal(err)
	}
	e.produce("outage", payloads(10, 50, "before")...)
	stop := e.archiver(archive.ObjectMode)
	e.waitCount("outage", 10, 30*time.Second)
	srv.Stop()
	e.produce("outage", payloads(100, 50, "during")...)
	time.Sleep(3 * time.Second)
	if n := e.count("outage"); n != 10 {
		t.Fatalf("%d indexed while S3 was down, want 10", n)
	}
	if err := srv.Restart(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.waitCount("outage", 110, 60*time.Second)
	stop()
	out, err := e.run("logs")
	if err != nil || !strings.Contains(out, "s3") {
		t.Fatalf("logs should show the S3 errors: %v\n%s", err, out)
	}
}

func TestVerifyPasses(t *testing.T) {
	e := newEnv(t)
	stop := e.archiver(archive.SegmentMode)
	defer stop()
	out, err := e.run("verify", "--count", "25", "--timeout", "30s")
	if err != nil || !strings.Contains(out, "verdict: PASS") || !strings.Contains(out, "25 sent, 25 received, 25 stored") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	out, err = e.run("clean-tests")
	if err != nil || !strings.Contains(out, "removed 25 messages") {
		t.Fatalf("clean-tests: %v\n%s", err, out)
	}
	if n := e.count("tributary.archiver.test"); n != 0 {
		t.Fatalf("%d test messages left", n)
	}
}

func TestLargeAndUnsafeTopicNames(t *testing.T) {
	e := newEnv(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 60_000) // 960,000 bytes
	w := writer(e.tools, "Weird.Topic_name-1")
	w.BatchBytes = 2 << 20
	if err := produce(e.ctx, w, []kafka.Message{{Value: big}, {Value: nil}}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	stop := e.archiver(archive.ObjectMode)
	e.waitCount("Weird.Topic_name-1", 2, 30*time.Second)
	stop()
	var key string
	var size int
	if err := e.ix.Pool().QueryRow(e.ctx, `SELECT key, size FROM archive_messages WHERE topic = $1 ORDER BY size DESC LIMIT 1`, "Weird.Topic_name-1").Scan(&key, &size); err != nil {
		t.Fatal(err)
	}
	if size != len(big) || !strings.HasPrefix(key, "archive/Weird%2ETopic_name-1/") {
		t.Fatalf("key %q size %d", key, size)
	}
	out, err := e.run("uuids", "--topic", "Weird.Topic_name-1", "--limit", "5")
	if err != nil || len(lines(out)) != 2 {
		t.Fatalf("uuids: %v\n%s", err, out)
	}
	for _, l := range lines(out) {
		raw, err := e.run("inspect", "--raw", strings.Fields(l)[0])
		if err != nil {
			t.Fatal(err)
		}
		if raw != string(big) && raw != "" {
			t.Fatalf("inspect --raw returned %d bytes", len(raw))
		}
	}
}

// TestCleanDuplicatesFindsOrphans: an object no index row points at is
// left alone while younger than --grace, then found and, with --apply,
// deleted; indexed objects and objects not of the archive's key layout
// are never touched.
func TestCleanDuplicatesFindsOrphans(t *testing.T) {
	e := newEnv(t)
	e.produce("keep", payloads(5, 10, "k")...)
	stop := e.archiver(archive.ObjectMode)
	e.waitCount("keep", 5, 30*time.Second)
	stop()
	orphan := "archive/keep/2020/01/01/00000000-0000-4000-8000-000000000000.bson"
	foreign := "archive/README.txt"
	for _, k := range []string{orphan, foreign} {
		if err := e.store.Put(e.ctx, k, strings.NewReader("left by a crash"), 15); err != nil {
			t.Fatal(err)
		}
	}
	// Just written: younger than any grace, so kept even by --apply.
	out, err := e.run("clean-duplicates", "--apply", "--grace", "1h")
	if err != nil || strings.Contains(out, "orphan ") || !strings.Contains(out, "0 objects with no index row deleted; 1 unindexed but younger than 1h0m0s left alone; 1 objects not of the archive's key layout ignored") {
		t.Fatalf("apply with the object younger than the grace: %v\n%s", err, out)
	}
	if n := e.objects(); n != 7 {
		t.Fatalf("%d objects after a clean-up that had to keep all 7", n)
	}
	if _, err := e.run("clean-duplicates", "--grace", "0s"); err == nil {
		t.Fatal("--grace 0s accepted: a clean-up without a grace deletes what a running archiver has not indexed yet")
	}
	// Once older than a 2 s grace, the dry run names it.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out, "orphan "+orphan) && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		if out, err = e.run("clean-duplicates", "--grace", "2s"); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(out, "orphan "+orphan) || !strings.Contains(out, "1 objects with no index row found (dry run") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if n := e.objects(); n != 7 {
		t.Fatalf("dry run deleted something: %d objects", n)
	}
	if out, err = e.run("clean-duplicates", "--apply", "--grace", "2s"); err != nil || !strings.Contains(out, "orphan "+orphan+" deleted") || !strings.Contains(out, "1 objects with no index row deleted") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if n := e.objects(); n != 6 {
		t.Fatalf("%d objects after --apply, want the 5 indexed ones and the foreign one", n)
	}
	if _, err := e.store.Open(e.ctx, foreign); err != nil {
		t.Fatalf("the object outside the archive's layout was touched: %v", err)
	}
}

// TestCleanDuplicatesBesideLiveArchiver runs clean-duplicates --apply
// over and over while an archiver writes: the objects it has put but not
// yet indexed must survive, so verify passes and every message's index
// row leads to its document, each message exactly once. An old orphan
// planted at the start must go, so the clean-up did run for real.
func TestCleanDuplicatesBesideLiveArchiver(t *testing.T) {
	e := newEnv(t)
	orphan := "archive/live/2020/01/01/00000000-0000-4000-8000-000000000001.bson"
	if err := e.store.Put(e.ctx, orphan, strings.NewReader("left by a crash"), 15); err != nil {
		t.Fatal(err)
	}
	stop := e.archiver(archive.ObjectMode, func(c *archive.Config) { c.BatchSize = 100 })
	done := make(chan struct{})
	cleaned := make(chan error, 1)
	runs := 0
	go func() {
		for {
			select {
			case <-done:
				cleaned <- nil
				return
			default:
			}
			if out, err := e.run("clean-duplicates", "--apply", "--grace", "2s"); err != nil {
				cleaned <- fmt.Errorf("clean-duplicates: %v\n%s", err, out)
				return
			}
			runs++
		}
	}()
	const rounds, per = 20, 75
	for r := 0; r < rounds; r++ {
		e.produce("live", payloads(per, 300, fmt.Sprintf("r%d", r))...)
	}
	e.waitCount("live", rounds*per, 120*time.Second)
	out, verr := e.run("verify", "--count", "25", "--timeout", "60s")
	deadline := time.Now().Add(30 * time.Second)
	for e.exists(orphan) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	close(done)
	if err := <-cleaned; err != nil {
		t.Fatal(err)
	}
	stop()
	if verr != nil || !strings.Contains(out, "verdict: PASS") {
		t.Fatalf("verify beside the clean-up: %v\n%s", verr, out)
	}
	if e.exists(orphan) {
		t.Fatalf("the old orphan survived %d clean-up runs", runs)
	}
	// Every index row's document is there and is one of the messages
	// sent, each exactly once.
	seen := map[string]int{}
	err := e.ix.Select(e.ctx, index.Filter{Topic: "live"}, func(row index.Row) error {
		rec, _, err := readRecord(e.ctx, e.store, row)
		if err != nil {
			return fmt.Errorf("message %s at %s: %w", row.UUID, row.Key, err)
		}
		seen[string(rec.Message)]++
		return nil
	})
	if err != nil {
		t.Fatalf("read back after %d clean-up runs: %v", runs, err)
	}
	for r := 0; r < rounds; r++ {
		for _, m := range payloads(per, 300, fmt.Sprintf("r%d", r)) {
			if n := seen[string(m.Value)]; n != 1 {
				t.Fatalf("message %q read back %d times, want once", m.Value[:12], n)
			}
		}
	}
	if len(seen) != rounds*per {
		t.Fatalf("%d distinct messages read back, want %d", len(seen), rounds*per)
	}
	t.Logf("%d clean-up runs beside the archiver", runs)
}

func (e *env) exists(key string) bool {
	rc, err := e.store.Open(e.ctx, key)
	if err != nil {
		return false
	}
	rc.Close()
	return true
}

func TestConnectAndStatus(t *testing.T) {
	e := newEnv(t)
	e.produce("st", payloads(7, 10, "x")...)
	stop := e.archiver(archive.ObjectMode)
	e.waitCount("st", 7, 30*time.Second)
	stop()
	out, err := e.run("connect")
	if err != nil || strings.Count(out, " ok") != 4 {
		t.Fatalf("connect: %v\n%s", err, out)
	}
	out, err = e.run("status")
	if err != nil || !strings.Contains(out, `"st"`) {
		t.Fatalf("status: %v\n%s", err, out)
	}
	// Seven messages over four partitions; every partition is caught up.
	for _, l := range lines(out)[1:] {
		f := strings.Fields(l)
		if f[0] == `"st"` && f[4] != "0" {
			t.Fatalf("lag %s on %s", f[4], l)
		}
	}
}

// TestKcatProducer drives kfake with kcat, a client that is not ours.
func TestKcatProducer(t *testing.T) {
	kcat := testkit.Tool(t, "kcat")
	e := newEnv(t)
	cmd := exec.Command(kcat, "-P", "-b", e.brokers[0], "-t", "from-kcat", "-K", ":", "-H", "origin=kcat", "-H", "origin=twice")
	cmd.Stdin = strings.NewReader("k1:first value\nk2:second value\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	stop := e.archiver(archive.ObjectMode)
	e.waitCount("from-kcat", 2, 30*time.Second)
	stop()
	out, err := e.run("uuids", "--topic", "from-kcat", "--header", "origin=twice")
	if err != nil || len(lines(out)) != 2 {
		t.Fatalf("uuids --header: %v\n%s", err, out)
	}
	out, err = e.run("inspect", strings.Fields(lines(out)[0])[0])
	if err != nil || !strings.Contains(out, `"origin" = "kcat"`) || !strings.Contains(out, `"origin" = "twice"`) || !strings.Contains(out, `"first value"`) {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
}

func (e *env) archiverWith(mode archive.Mode, m *archive.Metrics, tweak ...func(*archive.Config)) (stop func()) {
	e.t.Helper()
	cfg := archive.Config{
		Brokers: e.brokers, Group: "archiver", Meta: e.tools.Meta, Topics: e.tools.Selector, Mode: mode, Root: "archive",
		SegmentBytes: 64 << 10, SegmentAge: 300 * time.Millisecond, BatchSize: 500, BatchWait: 50 * time.Millisecond,
		TopicRefresh: 500 * time.Millisecond,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	a := archive.New(cfg, e.store, e.ix, e.bus, zaptest.NewLogger(e.t, zaptest.Level(zap.WarnLevel)), m)
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("archiver: %v", err)
			}
		case <-time.After(30 * time.Second):
			e.t.Error("archiver did not stop within 30s")
		}
	}
}
