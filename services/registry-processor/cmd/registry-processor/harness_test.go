package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/agentstub"
)

// These tests run the real binary as operators do, against two real
// PostgreSQL databases (the COLIN source and the event-processor target),
// embedded NATS and the controller stub; the crash tests use a build with
// the faults tag, whose pause points the production build does not have.
var binary, faultsBinary string

func TestMain(m *testing.M) {
	var cleanup func()
	var err error
	faultsBinary, cleanup, err = testkit.BuildBinary("registry-processor-faults", false, "faults")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer cleanup()
	testkit.MainWithBinary(m, "registry-processor", true, &binary)
}

type harness struct {
	t      *testing.T
	source string // COLIN DSN
	target string // event-processor DSN
	agent  *agentstub.Stub
	nats   string
	nc     *nats.Conn

	mu     sync.Mutex
	events map[string][]map[string]any // subject → payloads
}

func newHarness(t *testing.T, opts agentstub.Options) *harness {
	h := &harness{t: t, source: testkit.Postgres(t), target: testkit.Postgres(t), agent: testkit.Agent(t, opts),
		nats: testkit.NATS(t), events: map[string][]map[string]any{}}
	var err error
	if h.nc, err = nats.Connect(h.nats); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.nc.Close)
	// Every announcement is checked against its schema as it arrives.
	sub, err := h.nc.Subscribe("bcreg.>", func(m *nats.Msg) {
		testkit.CheckEvent(t, m.Subject, m.Data)
		var e map[string]any
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Errorf("%s: %v", m.Subject, err)
		}
		h.mu.Lock()
		h.events[m.Subject] = append(h.events[m.Subject], e)
		h.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return h
}

func (h *harness) env(extra ...string) []string {
	env := append(os.Environ(), "RUN_AS_SERVICE=false", "METRICS_ADDR=", "LOG_LEVEL=warn",
		"SOURCE_DB="+h.source, "TARGET="+h.target, "CONTROLLER_URL="+h.agent.URL, "NATS="+h.nats,
		"MIN_SLEEP=0", "MAX_SLEEP=0", "POST_TIMEOUT=10", "CORP_BATCH_SIZE=100", "POST_CONCURRENCY=2")
	return append(env, extra...)
}

// run runs the binary to its end and returns its exit code and output.
func (h *harness) run(bin string, args []string, extra ...string) (int, string) {
	h.t.Helper()
	c := exec.Command(bin, args...)
	c.Env = h.env(extra...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return 0, out.String()
}

func (h *harness) mustRun(args []string, extra ...string) string {
	h.t.Helper()
	code, out := h.run(binary, args, extra...)
	if code != 0 {
		h.t.Fatalf("registry-processor %v: exit %d\n%s", args, code, out)
	}
	return out
}

// killAt runs the faults build until it reaches the pause point, then
// kills it with SIGKILL.
func (h *harness) killAt(point string, args []string, extra ...string) {
	h.t.Helper()
	c := exec.Command(faultsBinary, args...)
	c.Env = h.env(extra...)
	testkit.KillAt(h.t, c, point)
}

// sourceNow is the generated sources' present: an hour ago, Pacific, the
// same for every harness of the run, so one seed gives the same rows in
// two databases.
var sourceNow = func() string {
	loc, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		panic(err)
	}
	return time.Now().In(loc).Add(-time.Hour).Truncate(time.Minute).Format("2006-01-02T15:04:05")
}()

// generate fills the source with n corps (the binary's own verb).
func (h *harness) generate(corps, events int, seed int64) {
	h.t.Helper()
	h.mustRun([]string{"testdata", "generate", "--corps", fmt.Sprint(corps), "--events", fmt.Sprint(events), "--seed", fmt.Sprint(seed), "--now", sourceNow})
}

// count runs a count query on the target.
func (h *harness) count(sql string, args ...any) int {
	h.t.Helper()
	var n int
	h.query(func(c *pgx.Conn) error { return c.QueryRow(context.Background(), sql, args...).Scan(&n) })
	return n
}

func (h *harness) query(fn func(*pgx.Conn) error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, h.target)
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close(ctx)
	if err := fn(c); err != nil {
		h.t.Fatal(err)
	}
}

// hashes is every credential_hash in credential_log, with its status.
func (h *harness) hashes() map[string]string {
	h.t.Helper()
	out := map[string]string{}
	h.query(func(c *pgx.Conn) error {
		rows, err := c.Query(context.Background(), "SELECT credential_hash, coalesce(process_success, '') FROM credential_log")
		if err != nil {
			return err
		}
		for rows.Next() {
			var hash, st string
			if err := rows.Scan(&hash, &st); err != nil {
				return err
			}
			out[hash] = st
		}
		return rows.Err()
	})
	return out
}

// received is how many times the controller was sent each credential,
// by its attributes without reason_description (what the hash covers).
func (h *harness) received() map[string]int {
	out := map[string]int{}
	for _, c := range h.agent.Credentials() {
		attrs := map[string]any{}
		for k, v := range c.Attributes {
			if k != "reason_description" {
				attrs[k] = v
			}
		}
		b, _ := json.Marshal(attrs) // sorted keys: the same text for the same attributes
		out[c.Schema+" "+string(b)]++
	}
	return out
}

func (h *harness) eventsOn(subject string) []map[string]any {
	if err := h.nc.Flush(); err != nil {
		h.t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.events[subject]...)
}
