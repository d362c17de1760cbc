package poster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"tributary.dev/libs/runner"
	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/agentstub"
)

func recordOf(t *testing.T, c agentstub.Credential) int64 {
	t.Helper()
	s, _ := c.Attributes["record_id"].(string)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("credential without record_id: %+v", c.Attributes)
	}
	return id
}

// confirmed maps each record to the thread ids it got in requests the
// stub answered 200 and the poster received, and each corp to how many
// such requests carried it.
func confirmed(t *testing.T, s *agentstub.Stub) (map[int64][]string, map[string]int) {
	byRecord := map[int64][]string{}
	corpReqs := map[string]int{}
	for _, req := range s.Log() {
		if req.Status != 200 || !req.Answered || req.Misanswered != 0 {
			continue
		}
		corps := map[string]bool{}
		for i, c := range req.Credentials {
			byRecord[recordOf(t, c)] = append(byRecord[recordOf(t, c)], req.Results[i].Result)
			corps[c.Attributes["registration_id"].(string)] = true
		}
		for c := range corps {
			corpReqs[c]++
		}
	}
	return byRecord, corpReqs
}

// 10 % of requests answered 503 (refused unread) and 5 % stalled for 2 s
// (issued, then answered too late for a 1 s timeout): the refused ones are
// sent again and end Y in exactly one confirmed request; the stalled ones
// are held as unconfirmed, never sent again by themselves, so the
// controller issued every credential exactly once. A run told to send the
// held rows again (post --unconfirmed) sends each of them once more.
func TestChaosNothingIssuedTwiceUnlessTold(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := make([]int, 150)
	for i := range sizes {
		sizes[i] = 1 + rng.IntN(8)
	}
	sizes[17], sizes[90] = 14, 23 // corps too big for one request
	rows := queue(sizes)
	stub := testkit.Agent(t, agentstub.Options{FailureRate: 0.10, FailureStatus: 503, StallRate: 0.05, StallFor: 2 * time.Second, Seed: 12})
	st := newMemStore(rows)
	m := NewMetrics(nil)
	batches := 0
	p := New(Config{URL: stub.URL, Timeout: time.Second, Retries: 12, Backoff: 10 * time.Millisecond, Page: 97, Metrics: m, MaxErrors: 1}, st)
	stats, err := p.Run(context.Background(), func(string, int, int) { batches++ })
	if err != nil {
		t.Fatal(err)
	}
	st.check(t)
	byRecord, corpReqs := confirmed(t, stub)
	var unanswered, refusals, stalledCreds int
	stalled := map[int64]bool{}
	for _, req := range stub.Log() {
		if req.Status == 200 && !req.Answered {
			unanswered++
			stalledCreds += len(req.Credentials)
			for _, c := range req.Credentials {
				stalled[recordOf(t, c)] = true
			}
		}
		if req.Status == 503 {
			refusals++
		}
	}
	if unanswered == 0 || refusals == 0 {
		t.Fatalf("the chaos did not happen: %d unanswered, %d 503s", unanswered, refusals)
	}
	held := st.held()
	for _, r := range rows {
		got, answered := st.posted[r.RecordID]
		switch {
		case stalled[r.RecordID]:
			if answered || !held[r.RecordID] {
				t.Fatalf("record %d of an unanswered request: written %+v, held %v", r.RecordID, got, held[r.RecordID])
			}
		case !got.Success || len(byRecord[r.RecordID]) != 1 || got.Result != byRecord[r.RecordID][0]:
			t.Fatalf("record %d: written %+v, confirmed thread ids %v", r.RecordID, got, byRecord[r.RecordID])
		}
	}
	for c, n := range sizes {
		corp := fmt.Sprintf("BC%07d", c+1)
		if want := (n + 9) / 10; corpReqs[corp] > want {
			t.Errorf("corp %s with %d credentials went in %d confirmed requests, want at most %d", corp, n, corpReqs[corp], want)
		}
	}
	if stats.Success != len(rows)-stalledCreds || stats.Failed != 0 || stats.Unconfirmed != stalledCreds || len(held) != stalledCreds ||
		stats.Retried != refusals || stats.Batches != batches || int(testutil.ToFloat64(m.Unconfirmed)) != unanswered ||
		int(testutil.ToFloat64(m.Held.WithLabelValues("timeout"))) != stalledCreds || int(testutil.ToFloat64(m.Posted.WithLabelValues("success"))) != stats.Success {
		t.Fatalf("stats %+v, onBatch %d; stub: %d unanswered (%d credentials), %d 503s; unconfirmed metric %v",
			stats, batches, unanswered, stalledCreds, refusals, testutil.ToFloat64(m.Unconfirmed))
	}
	for k, n := range stub.Issued() {
		if n != 1 {
			t.Fatalf("issued %d times: %s", n, k)
		}
	}

	// Another run sends nothing again by itself.
	before := stub.Requests()
	if s2, err := New(Config{URL: stub.URL, Metrics: m}, st).Run(context.Background(), nil); err != nil || s2.Success != 0 || stub.Requests() != before {
		t.Fatalf("a plain run after the chaos: %+v, %v, %d requests", s2, err, stub.Requests()-before)
	}
	// Told to, it sends the held ones once more, and says so.
	stub.SetOptions(agentstub.Options{})
	s3, err := New(Config{URL: stub.URL, ResendAll: true, Metrics: m}, st).Run(context.Background(), nil)
	if err != nil || s3.Success != stalledCreds || s3.Resent != stalledCreds || int(testutil.ToFloat64(m.Resent)) != stalledCreds {
		t.Fatalf("resend: %+v, %v, resent metric %v", s3, err, testutil.ToFloat64(m.Resent))
	}
	st.check(t)
	if len(st.held()) != 0 {
		t.Fatalf("%d still held after the resend", len(st.held()))
	}
	twice := 0
	for _, n := range stub.Issued() {
		if n == 2 {
			twice++
		} else if n != 1 {
			t.Fatalf("issued %d times", n)
		}
	}
	if twice != stalledCreds {
		t.Fatalf("%d credentials issued twice, want the %d held ones", twice, stalledCreds)
	}
}

// Pages of 7 rows against corps of 3, 4, 5, 2, 6, 1, 9, 25: every corp
// of up to 10 credentials goes in one request although pages cut through
// them; the 25 go in 10+10+5.
func TestCorpKeptTogetherAcrossPages(t *testing.T) {
	sizes := []int{3, 4, 5, 2, 6, 1, 9, 25, 3}
	rows := queue(sizes)
	stub := testkit.Agent(t, agentstub.Options{})
	st := newMemStore(rows)
	p := New(Config{URL: stub.URL, Page: 7, Concurrency: 1}, st)
	stats, err := p.Run(context.Background(), nil)
	if err != nil || stats.Success != len(rows) {
		t.Fatalf("stats %+v err %v", stats, err)
	}
	st.check(t)
	perCorp := map[string][]int{}
	for _, req := range stub.Log() {
		n := map[string]int{}
		for _, c := range req.Credentials {
			n[c.Attributes["registration_id"].(string)]++
			// reason_description rides along, outside the stored JSON.
			if c.Attributes["reason_description"] != "Filing: Annual Report" {
				t.Fatalf("attributes %+v", c.Attributes)
			}
		}
		for c, k := range n {
			perCorp[c] = append(perCorp[c], k)
		}
		if len(req.Credentials) > 10 {
			t.Fatalf("request of %d credentials", len(req.Credentials))
		}
	}
	for i, n := range sizes {
		corp := fmt.Sprintf("BC%07d", i+1)
		got := perCorp[corp]
		want := []int{n}
		if n == 25 {
			want = []int{10, 10, 5}
		}
		if len(got) != len(want) || (n == 25 && (got[0] != 10 || got[1] != 10 || got[2] != 5)) || got[0] != want[0] {
			t.Errorf("corp %s (%d credentials) went as %v, want %v", corp, n, got, want)
		}
	}
}

// Broken answers fail their batch with a clear message and are never
// posted again; the next batch posts normally.
func TestWrongLengthOrShapeFailsTheBatch(t *testing.T) {
	rows := queue([]int{3, 3, 3, 3})
	stub := testkit.Agent(t, agentstub.Options{})
	stub.Misanswer(agentstub.AnswerShort, 1)
	stub.Misanswer(agentstub.AnswerBadItem, 1)
	stub.Misanswer(agentstub.AnswerGarbage, 1)
	st := newMemStore(rows)
	var calls []string
	p := New(Config{URL: stub.URL, Batch: 3, Concurrency: 1, Backoff: time.Millisecond}, st)
	stats, err := p.Run(context.Background(), func(b string, ok, failed int) { calls = append(calls, strconv.Itoa(ok)+"/"+strconv.Itoa(failed)) })
	if err != nil {
		t.Fatal(err)
	}
	st.check(t)
	want := []string{
		"controller answered 2 results for 3 credentials",
		"controller answer item 0 is not {success, result}: 0",
		"controller answer is not a JSON array of {success, result}",
	}
	for i, r := range rows {
		got := st.posted[r.RecordID]
		if i >= 9 {
			if !got.Success {
				t.Fatalf("record %d after the broken answers: %+v", r.RecordID, got)
			}
			continue
		}
		if got.Success || !strings.HasPrefix(got.Result, want[i/3]) {
			t.Fatalf("record %d: %+v, want N with %q", r.RecordID, got, want[i/3])
		}
	}
	// Answers are written back by several writers: the calls come one
	// at a time, in no fixed order.
	slices.Sort(calls)
	if len(stub.Log()) != 4 || stats.Batches != 4 || stats.Failed != 9 || stats.Success != 3 || strings.Join(calls, ",") != "0/3,0/3,0/3,3/0" {
		t.Fatalf("requests %d, stats %+v, onBatch %v", len(stub.Log()), stats, calls)
	}
}

// Nothing is posted while /readiness answers 503; once it answers 200 the
// queue drains. A controller that never gets ready ends the run with an
// error and leaves the queue untouched.
func TestReadinessGate(t *testing.T) {
	rows := queue([]int{2, 2})
	stub := testkit.Agent(t, agentstub.Options{})
	stub.SetReady(false)
	st := newMemStore(rows)
	p := New(Config{URL: stub.URL, ReadinessPoll: 10 * time.Millisecond, ReadinessWait: 10 * time.Second}, st)
	done := make(chan Stats)
	go func() {
		s, err := p.Run(context.Background(), nil)
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	time.Sleep(150 * time.Millisecond)
	if stub.Requests() != 0 || stub.Probes() < 3 {
		t.Fatalf("while not ready: %d requests, %d probes", stub.Requests(), stub.Probes())
	}
	stub.SetReady(true)
	if s := <-done; s.Success != 4 {
		t.Fatalf("after ready: %+v", s)
	}

	stub2 := testkit.Agent(t, agentstub.Options{})
	stub2.SetReady(false)
	st2 := newMemStore(queue([]int{2}))
	_, err := New(Config{URL: stub2.URL, ReadinessPoll: 10 * time.Millisecond, ReadinessWait: 50 * time.Millisecond}, st2).Run(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "/readiness not ready after 50ms") || stub2.Requests() != 0 || st2.queries != 0 {
		t.Fatalf("never ready: err %v, requests %d, claims %d", err, stub2.Requests(), st2.queries)
	}
}

// Out of retries of a request the controller refused unread (503) while
// its /readiness says it is healthy: the batch is written N with the error
// (cut to 255), as the original; MAX_ERRORS stops the run.
func TestOutOfRetriesAndMaxErrors(t *testing.T) {
	stub := testkit.Agent(t, agentstub.Options{FailureRate: 1, FailureStatus: 503})
	st := newMemStore(queue([]int{5, 5, 5, 5, 5, 5}))
	p := New(Config{URL: stub.URL, Batch: 5, Retries: 2, Backoff: time.Millisecond, Concurrency: 1, MaxErrors: 12}, st)
	stats, err := p.Run(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "15 credentials failed, more than the 12 allowed") {
		t.Fatalf("err %v stats %+v", err, stats)
	}
	st.check(t)
	// Three batches of 5 fail (3 tries each) before 15 > 12 stops it.
	if stats.Failed != 15 || stub.Requests() != 9 || len(st.posted) != 15 || stats.Retried != 6 {
		t.Fatalf("stats %+v, requests %d, written %d", stats, stub.Requests(), len(st.posted))
	}
	for _, r := range st.posted {
		if r.Success || !strings.HasPrefix(r.Result, "posting to the controller failed 3 times: batch ") || !strings.Contains(r.Result, "answered 503 Service Unavailable: injected failure") {
			t.Fatalf("%+v", r)
		}
	}
}

// Under 60 % failed credentials the back-off lowers the concurrency.
func TestAdaptiveConcurrencyDropsUnderErrors(t *testing.T) {
	stub := testkit.Agent(t, agentstub.Options{ItemFailureRate: 0.6, Seed: 5, Latency: 2 * time.Millisecond})
	sizes := make([]int, 100)
	for i := range sizes {
		sizes[i] = 5
	}
	st := newMemStore(queue(sizes))
	m := NewMetrics(nil)
	stats, err := New(Config{URL: stub.URL, MaxErrors: 100000, Metrics: m}, st).Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if stats.MinConcurrency > 22 || stats.Success+stats.Failed != 500 || stats.Failed < 200 {
		t.Fatalf("stats %+v", stats)
	}
}

// The back-off's arithmetic, hand-derived from credssubmitter.py:
// factor = max(0, factor + 5*fails - successes); > 50 → int(0.5 + l*0.7)
// and reset; more than 10 zero checks in a row → min(max, int(0.5 + 1.6*l)).
func TestAdaptArithmetic(t *testing.T) {
	r := &run{p: New(Config{Concurrency: 32}, nil), limit: 32}
	r.stats.MinConcurrency = 32
	step := func(fails, oks int) {
		r.doneFail += fails
		r.doneOK += oks
		r.adapt()
	}
	step(10, 0) // 50: not above the threshold
	if r.limit != 32 || r.factor != 50 {
		t.Fatalf("limit %d factor %d", r.limit, r.factor)
	}
	step(1, 4) // 50+5-4 = 51 → 22 (22.4+0.5)
	if r.limit != 22 || r.factor != 0 {
		t.Fatalf("limit %d factor %d", r.limit, r.factor)
	}
	step(11, 0) // 55 → int(0.5+15.4) = 15
	if r.limit != 15 {
		t.Fatalf("limit %d", r.limit)
	}
	for range 10 {
		step(0, 10)
	}
	if r.limit != 15 {
		t.Fatalf("rose after 10 zero checks: %d", r.limit)
	}
	step(0, 10) // the 11th → int(0.5+24) = 24
	if r.limit != 24 || r.stats.MinConcurrency != 15 {
		t.Fatalf("limit %d min %d", r.limit, r.stats.MinConcurrency)
	}
	for range 11 {
		step(0, 1)
	}
	if r.limit != 32 { // min(32, int(0.5+38.4))
		t.Fatalf("limit %d", r.limit)
	}
}

func TestEncodeAndCut(t *testing.T) {
	quoted, empty := `Filing "x"`, ""
	body, sent, bad := encode([]Row{
		{RecordID: 1, Schema: "registration.registries.ca", Version: "1.0.42", JSON: `{"a": "\u00e9", "b": ""}`, Reason: &quoted},
		{RecordID: 2, Schema: "s", Version: "1", JSON: `{}`},
		{RecordID: 3, Corp: "0000009", Schema: "s", Version: "1", JSON: `[1]`},
		{RecordID: 4, Corp: "0000009", Schema: "s", Version: "1", JSON: `{"a": `},
		{RecordID: 5, Schema: "business_number.registries.ca", Version: "1.0.42", JSON: `{"business_number": "123456789"}`, Reason: &empty},
	})
	// reason_description goes last, as the original's submitter added it
	// to the loaded dict; "" stays "" (business numbers), NULL is null.
	want := `[{"schema":"registration.registries.ca","version":"1.0.42","attributes":{"a": "\u00e9", "b": "","reason_description":"Filing \"x\""}},` +
		`{"schema":"s","version":"1","attributes":{"reason_description":null}},` +
		`{"schema":"business_number.registries.ca","version":"1.0.42","attributes":{"business_number": "123456789","reason_description":""}}]`
	if string(body) != want || len(sent) != 3 || len(bad) != 2 || bad[0].RecordID != 3 || bad[1].Success ||
		bad[1].Result != "credential_json of record 4 (corp 0000009) is not a JSON object; not posted" {
		t.Fatalf("body %s\nsent %d bad %+v", body, len(sent), bad)
	}
	long := strings.Repeat("é", 300)
	if got := cut(long); got != strings.Repeat("é", 250)+"..." {
		t.Fatalf("cut: %d runes", len([]rune(got)))
	}
	if s := strings.Repeat("x", 255); cut(s) != s {
		t.Fatal("255 characters should be kept")
	}
}

// Cancelling a run stops it with the context's error; what was answered
// is written back, what was in flight is held as unconfirmed (it was sent;
// the controller may have issued it), nothing is written N, and nothing
// stays claimed.
func TestCancelHoldsWhatWasInFlight(t *testing.T) {
	stub := testkit.Agent(t, agentstub.Options{Latency: 40 * time.Millisecond})
	sizes := make([]int, 200)
	for i := range sizes {
		sizes[i] = 2
	}
	st := newMemStore(queue(sizes))
	m := NewMetrics(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	stats, err := New(Config{URL: stub.URL, Concurrency: 4, Metrics: m}, st).Run(ctx, nil)
	if err == nil || ctx.Err() == nil {
		t.Fatalf("err %v", err)
	}
	st.check(t)
	for id, r := range st.posted {
		if !r.Success {
			t.Fatalf("record %d written N on shutdown: %+v", id, r)
		}
	}
	held := st.held()
	if len(st.posted) == 0 || len(st.posted) >= 400 || stats.Success != len(st.posted) || len(held) != stats.Unconfirmed ||
		int(testutil.ToFloat64(m.Held.WithLabelValues("shutdown"))) != len(held) {
		t.Fatalf("written %d of 400, held %d, stats %+v", len(st.posted), len(held), stats)
	}
}

// Asked to stop (SIGTERM through the runner's work context), the poster
// starts no request and lets those in flight finish: they are written Y,
// nothing is held, and the rows never sent are given back, postable.
func TestStopLetsInFlightFinish(t *testing.T) {
	stub := testkit.Agent(t, agentstub.Options{PerCredential: 60 * time.Millisecond})
	sizes := make([]int, 40)
	for i := range sizes {
		sizes[i] = 2
	}
	rows := queue(sizes)
	st := newMemStore(rows)
	proc, signal := context.WithCancel(context.Background())
	work, cancel := runner.WorkContext(proc, time.Minute)
	defer cancel()
	go func() {
		time.Sleep(200 * time.Millisecond)
		signal()
	}()
	stats, err := New(Config{URL: stub.URL, Concurrency: 3}, st).Run(work, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.check(t)
	log := stub.Log()
	issued := len(stub.Credentials())
	if len(st.held()) != 0 || stats.Unconfirmed != 0 || stats.Success != issued || issued == 0 || issued >= len(rows) {
		t.Fatalf("stats %+v, held %d, issued %d of %d", stats, len(st.held()), issued, len(rows))
	}
	for _, req := range log {
		if !req.Answered {
			t.Fatalf("request %d not answered: in flight at the signal and cut", req.Seq)
		}
	}
	// The rest is postable, and a second run posts exactly it.
	s2, err := New(Config{URL: stub.URL}, st).Run(context.Background(), nil)
	if err != nil || s2.Success != len(rows)-issued {
		t.Fatalf("second run %+v %v", s2, err)
	}
	for k, n := range stub.Issued() {
		if n != 1 {
			t.Fatalf("issued %d times: %s", n, k)
		}
	}
}
