package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/config"
	"tributary.dev/libs/pg"
	"tributary.dev/libs/setup"
	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/svc"
	"tributary.dev/services/topic-archiver/internal/store"
)

// These tests run the real binary, so kill -9 hits a real process.

var binary string

func TestMain(m *testing.M) {
	// Built without the race detector: this is about crash safety at
	// production speed; the race detector runs over the same code in the
	// package tests.
	testkit.MainWithBinary(m, "topic-archiver", false, &binary)
}

type procEnv struct {
	t       testing.TB
	ctx     context.Context
	kafka   *kfake.Cluster
	brokers []string
	s3      *testkit.S3Server
	bucket  config.Bucket
	store   blob.Store
	dsn     string
	pool    *pgxpool.Pool
	nats    string
}

func newProcEnv(t testing.TB, partitions int) *procEnv {
	return newProcEnvWith(t, kfake.DefaultNumPartitions(partitions))
}

func newProcEnvWith(t testing.TB, kopts ...kfake.Opt) *procEnv {
	return newProcEnvOn(t, testkit.KafkaCluster(t, kopts...))
}

// newProcEnvOn is newProcEnv on a Kafka cluster the test made.
func newProcEnvOn(t testing.TB, cluster *kfake.Cluster) *procEnv {
	ctx := context.Background()
	e := &procEnv{t: t, ctx: ctx, kafka: cluster, s3: testkit.RunS3(t), dsn: testkit.Postgres(t), nats: testkit.NATS(t)}
	e.brokers = e.kafka.ListenAddrs()
	var err error
	if e.bucket, err = e.s3.CreateBucket(ctx, "archive-test"); err != nil {
		t.Fatal(err)
	}
	e.bucket.Path = "archive"
	if e.store, err = blob.Open(ctx, e.bucket); err != nil {
		t.Fatal(err)
	}
	if e.pool, err = pg.Connect(ctx, e.dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.pool.Close)
	// Every announcement the binaries under test make is checked against
	// its schema in proto/events/ when the test ends.
	nc, err := nats.Connect(e.nats)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := nc.SubscribeSync("archive.stored.>")
	if err == nil {
		err = sub.SetPendingLimits(-1, -1)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer nc.Close()
		if err := nc.Flush(); err != nil {
			t.Errorf("flush NATS: %v", err)
		}
		for {
			m, err := sub.NextMsg(500 * time.Millisecond)
			if err != nil {
				return
			}
			testkit.CheckEvent(t, m.Subject, m.Data)
		}
	})
	return e
}

func (e *procEnv) cmd(args []string, extra ...string) *exec.Cmd {
	c := exec.Command(binary, args...)
	c.Env = append(os.Environ(), "METRICS_ADDR=", "LOG_LEVEL=warn", "KAFKA_BROKERS="+strings.Join(e.brokers, ","),
		"S3="+e.bucket.Raw(), "TARGET="+e.dsn, "NATS="+e.nats, "TOPIC_REFRESH=1", "IDLE_EXIT=60")
	c.Env = append(c.Env, extra...)
	return c
}

// produce sends n messages whose values say their number, in batches.
func (e *procEnv) produce(topic string, n, size int) {
	e.produceRange(topic, 0, n, size, 500, 0)
}

// produceRange sends messages from..to-1 in batches of per, pausing
// between batches, so that a stream can be spread over time.
func (e *procEnv) produceRange(topic string, from, to, size, per int, pause time.Duration) {
	w := &kafka.Writer{Addr: kafka.TCP(e.brokers...), Topic: topic, AllowAutoTopicCreation: true, BatchSize: per, BatchTimeout: 2 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	batch := make([]kafka.Message, 0, per)
	for i := from; i < to; i++ {
		v := bytes.Repeat([]byte{byte(i)}, size)
		copy(v, fmt.Sprintf("m-%d-", i))
		batch = append(batch, kafka.Message{Value: v, Key: []byte(fmt.Sprint(i % 97))})
		if len(batch) == cap(batch) || i == to-1 {
			var err error
			for try := 0; try < 40; try++ {
				if err = w.WriteMessages(e.ctx, batch...); err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				e.t.Errorf("produce: %v", err)
				return
			}
			batch = batch[:0]
			time.Sleep(pause)
		}
	}
}

// checkExactlyOnce reads every index row's document from S3 and checks
// that messages 0..n-1 are each there exactly once, byte-identical.
func (e *procEnv) checkExactlyOnce(topic string, n, size int) {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, `SELECT key, byte_offset, byte_length, sha256 FROM archive_messages WHERE topic = $1 ORDER BY key, byte_offset`, topic)
	if err != nil {
		e.t.Fatal(err)
	}
	seen := make([]int, n)
	var cacheKey string
	var cache []byte
	count := 0
	for rows.Next() {
		var key string
		var off, length int64
		var sum []byte
		if err := rows.Scan(&key, &off, &length, &sum); err != nil {
			e.t.Fatal(err)
		}
		if key != cacheKey {
			rc, err := e.store.Open(e.ctx, key)
			if err != nil {
				e.t.Fatalf("index row points at %s: %v", key, err)
			}
			cache, _ = io.ReadAll(rc)
			rc.Close()
			cacheKey = key
		}
		doc := cache[off : off+length]
		if got := sha256.Sum256(doc); !bytes.Equal(got[:], sum) {
			e.t.Fatalf("%s@%d: stored bytes do not match the indexed sha256", key, off)
		}
		rec, err := store.Unmarshal(doc)
		if err != nil {
			e.t.Fatal(err)
		}
		var i int
		if _, err := fmt.Sscanf(string(rec.Message), "m-%d-", &i); err != nil || i < 0 || i >= n {
			e.t.Fatalf("unexpected message %q", rec.Message[:min(20, len(rec.Message))])
		}
		want := bytes.Repeat([]byte{byte(i)}, size)
		copy(want, fmt.Sprintf("m-%d-", i))
		if !bytes.Equal(rec.Message, want) {
			e.t.Fatalf("message %d is not byte-identical", i)
		}
		seen[i]++
		count++
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	for i, c := range seen {
		if c != 1 {
			e.t.Fatalf("message %d stored %d times (of %d rows), want exactly once", i, c, count)
		}
	}
}

// TestKillNineWhileProducing kills the archiver at random moments three
// times while a producer sends, restarts it, and expects every message
// exactly once in PostgreSQL and readable, byte-identical, from S3.
// Segment mode runs the 50,000 messages; object mode, one S3
// object per message at a few thousand a second, runs 5,000 so the
// package stays near two minutes under -race — its 50,000 is for a soak
// run against the deployed stack.
//
// Each kill must land mid-work, or the test is a plain run: the stream
// goes out in four chunks, one released as each round's archiver starts
// (the last after the third kill), each kill waits until that process
// has indexed something new, and the index must then hold strictly
// between 0 and n messages.
func TestKillNineWhileProducing(t *testing.T) {
	for _, tc := range []struct {
		mode string
		n    int
	}{{"segment", 50_000}, {"object", 5_000}} {
		t.Run(tc.mode, func(t *testing.T) {
			e := newProcEnv(t, 4)
			const size, rounds = 200, 3
			chunk := tc.n / (rounds + 1)
			// Each chunk goes out in 25 batches 40 ms apart: about a
			// second or more of producing per round.
			per := max(chunk/25, 10)
			chunks := make(chan int)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for c := range chunks {
					to := min(tc.n, (c+1)*chunk)
					if c == rounds {
						to = tc.n
					}
					e.produceRange("crash", c*chunk, to, size, per, 40*time.Millisecond)
				}
			}()
			count := func() int {
				var n int
				err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM archive_messages WHERE topic = 'crash'`).Scan(&n)
				if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "42P01" {
					return 0 // the first process has not migrated yet
				}
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			rng := rand.New(rand.NewPCG(uint64(tc.n), 7))
			for round := 0; round < rounds; round++ {
				before := count()
				c := e.cmd(nil, "RUN_AS_SERVICE=true", "STORE_MODE="+tc.mode, "SEGMENT_SECONDS=0.5", "SEGMENT_BYTES=262144")
				c.Stderr = os.Stderr
				if err := c.Start(); err != nil {
					t.Fatal(err)
				}
				chunks <- round
				// Until this process has stored something of its own
				// (a restart next to killed members can wait out their
				// sessions first), then a random moment more.
				deadline := time.Now().Add(120 * time.Second)
				for count() <= before && time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
				}
				if count() <= before {
					_ = c.Process.Kill()
					_ = c.Wait()
					t.Fatalf("round %d: the archiver stored nothing within 120s (index at %d)", round, before)
				}
				time.Sleep(time.Duration(100+rng.IntN(900)) * time.Millisecond)
				if err := c.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				_ = c.Wait()
				at := count()
				if at <= 0 || at >= tc.n {
					t.Fatalf("kill %d landed with %d of %d messages indexed: not mid-work", round+1, at, tc.n)
				}
				t.Logf("kill %d landed with %d of %d messages indexed", round+1, at, tc.n)
			}
			chunks <- rounds
			close(chunks)
			wg.Wait()
			// The rounds above restart straight after each kill, with the
			// killed member still in the group. The final pass starts once
			// the coordinator has dropped the killed members (10 s
			// sessions): under load a join next to several dead members
			// was seen to leave partitions with one for minutes, which is
			// about the group, not about what this test checks.
			time.Sleep(11 * time.Second)
			out, err := e.cmd(nil, "RUN_AS_SERVICE=false", "STORE_MODE="+tc.mode, "SEGMENT_SECONDS=0.5", "SEGMENT_BYTES=262144", "IDLE_EXIT=150").CombinedOutput()
			if err != nil {
				t.Fatalf("final run: %v\n%s", err, out)
			}
			if rows := count(); rows != tc.n {
				t.Fatalf("index holds %d messages, want %d; final run said:\n%s", rows, tc.n, out)
			}
			e.checkExactlyOnce("crash", tc.n, size)
		})
	}
}

func TestVerifyAgainstRunningBinary(t *testing.T) {
	e := newProcEnv(t, 2)
	bg := e.cmd(nil, "RUN_AS_SERVICE=true", "STORE_MODE=segment", "SEGMENT_SECONDS=0.3")
	if err := bg.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = bg.Process.Signal(syscall.SIGTERM); _ = bg.Wait() }()
	// verify only reads the index: it waits for the archiver to have
	// created it, as an operator starts the service before checking it.
	e.waitIndex()
	out, err := e.cmd([]string{"verify", "--count", "30", "--timeout", "60s"}).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verdict: PASS") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	// SIGTERM: the archiver finishes what it holds and exits cleanly.
	if err := bg.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- bg.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of SIGTERM")
	}
}

// waitIndex waits until the archiver has created the index tables.
func (e *procEnv) waitIndex() {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var ok bool
		if err := e.pool.QueryRow(e.ctx, `SELECT to_regclass('archive_messages') IS NOT NULL`).Scan(&ok); err != nil {
			e.t.Fatal(err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatal("the archiver did not create its index within 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHelp takes the variables from the Config struct itself, so a new
// field cannot miss --help or the README.
func TestHelp(t *testing.T) {
	out := svc.CheckHelp(t, binary, "../../README.md", &Config{})
	if n := len(setup.Variables(&Config{})); n < 25 {
		t.Fatalf("Config has only %d variables?", n)
	}
	for _, w := range []string{"list", "connect", "status", "publish", "verify", "inspect", "uuids", "restore", "db-logs", "clean-tests", "clean-duplicates"} {
		if !strings.Contains(string(out), "  "+w+" ") {
			t.Errorf("--help lacks verb %s", w)
		}
	}
	if help, err := exec.Command(binary, "help").CombinedOutput(); err != nil || string(help) != string(out) {
		t.Errorf("`help` differs from `--help` (%v):\n%s", err, help)
	}
	c := exec.Command(binary, "frobnicate")
	if out, err := c.CombinedOutput(); err == nil || !strings.Contains(string(out), `unknown verb "frobnicate"`) {
		t.Fatalf("unknown verb: %v %s", err, out)
	}
}
