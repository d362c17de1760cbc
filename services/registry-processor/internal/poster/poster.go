// Package poster drains the credential queue into the issuer controller:
// POST {URL}/issue-credential with batches of {schema, version,
// attributes}, many requests in flight with the original pipeline's
// adaptive back-off, retries on 5xx, timeouts and connection errors, and
// each outcome written back to its row. Delivery is at least once: a batch
// is marked sent before it is posted, its answer is written back as soon
// as it arrives, and only a batch the controller never answered is posted
// again.
package poster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"tributary.dev/libs/faults"

	"go.uber.org/zap"
)

// Store is the credential queue (internal/epdb.DB).
type Store interface {
	// Postable returns up to limit rows with record id > after, not yet
	// posted and not expiring after now, in ascending record id.
	Postable(ctx context.Context, after int64, limit int, now time.Time) ([]Row, error)
	// MarkSent records that rows are about to be posted in batch.
	MarkSent(ctx context.Context, ids []int64, batch string) error
	// MarkPosted writes back each row's outcome (Y or N, with the
	// message) and commits.
	MarkPosted(ctx context.Context, results []Result) error
}

// Row is one queued credential.
type Row struct {
	RecordID int64
	Corp     string
	Schema   string
	Version  string
	JSON     string // credential_json: the attributes, a JSON object
	Reason   string // credential_reason; "" is sent as null, as a NULL column was
}

// Result is one row's outcome: Success with the thread id, or the failure
// message, already cut to fit process_msg.
type Result struct {
	RecordID int64
	Success  bool
	Result   string
}

// Config tunes the poster; zero values take the defaults.
type Config struct {
	URL           string        // CONTROLLER_URL, e.g. http://localhost:5002
	Batch         int           // POST_BATCH: credentials per request, 10
	Concurrency   int           // POST_CONCURRENCY: requests in flight at most, 32
	Timeout       time.Duration // one request, sent to answered, 120 s (the controller's own wait per credential)
	Retries       int           // tries after the first on 5xx, timeout, connection error, 5
	Backoff       time.Duration // wait before the first retry, doubling to 30 s, 250 ms
	Page          int           // rows per Postable call, 3000
	MaxErrors     int           // stop once more credentials than this failed, 300
	ReadinessWait time.Duration // how long to wait for /readiness before giving up, 480 s
	ReadinessPoll time.Duration // between readiness probes, 15 s
	Log           *zap.Logger
	Metrics       *Metrics
	Client        *http.Client     // nil: a client with keep-alive sized to Concurrency
	Now           func() time.Time // the expiry filter's clock, UTC; nil: time.Now
}

// Stats sums one Run.
type Stats struct {
	Batches        int // requests answered and written back
	Success        int // credentials written back Y
	Failed         int // credentials written back N
	Deferred       int // credentials left queued because the controller was not ready
	Retried        int // requests sent again
	Unconfirmed    int // requests sent but never answered
	MinConcurrency int // the lowest limit the back-off reached
	Elapsed        time.Duration
}

// Poster posts the queue.
type Poster struct {
	cfg    Config
	st     Store
	log    *zap.Logger
	m      *Metrics
	client *http.Client
}

// The original's adaptive back-off (credssubmitter.py): a progressive
// error count max(0, previous + 5 x failures - successes); above 50 the
// limit drops to 70 %, and after more than 10 checks in a row at zero it
// rises by 60 %, never above the configured concurrency.
const (
	failFactor      = 5
	failThreshold   = 50
	reduceFactor    = 0.70
	increaseFactor  = 1.6
	successesToRise = 10
)

// New returns a Poster over st.
func New(cfg Config, st Store) *Poster {
	if cfg.Batch <= 0 {
		cfg.Batch = 10
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 32
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 120 * time.Second
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	} else if cfg.Retries == 0 {
		cfg.Retries = 5
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 250 * time.Millisecond
	}
	if cfg.Page <= 0 {
		cfg.Page = 3000
	}
	if cfg.MaxErrors <= 0 {
		cfg.MaxErrors = 300
	}
	if cfg.ReadinessWait <= 0 {
		cfg.ReadinessWait = 480 * time.Second
	}
	if cfg.ReadinessPoll <= 0 {
		cfg.ReadinessPoll = 15 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	client := cfg.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.Concurrency
		tr.MaxIdleConns = cfg.Concurrency * 2
		client = &http.Client{Transport: tr}
	}
	return &Poster{cfg: cfg, st: st, log: cfg.Log, m: cfg.Metrics, client: client}
}

// run is the state of one Run shared by its requests.
type run struct {
	p       *Poster
	ctx     context.Context
	cancel  context.CancelCauseFunc
	onBatch func(batch string, success, failed int)
	prefix  string

	mu          sync.Mutex
	cond        *sync.Cond
	inFlight    int
	limit       int
	factor      int
	zeroSeq     int
	doneOK      int // credentials, for the back-off's deltas
	doneFail    int
	seenOK      int
	seenFail    int
	needReady   bool // a request failed: probe readiness before the next page
	stats       Stats
	cbMu        sync.Mutex
	seq         int
	wg          sync.WaitGroup
	errMaxFails error
}

// Run posts until nothing is postable, ctx ends, more than MaxErrors
// credentials failed or the store fails; it waits for the controller's
// readiness first and after failures. onBatch (may be nil) is called after
// each answered batch has been written back, one call at a time.
func (p *Poster) Run(ctx context.Context, onBatch func(batch string, success, failed int)) (Stats, error) {
	start := time.Now()
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r := &run{p: p, ctx: rctx, cancel: cancel, onBatch: onBatch, limit: p.cfg.Concurrency,
		prefix: fmt.Sprintf("%s-%04x", start.UTC().Format("20060102T150405"), rand.Uint32()&0xffff)}
	r.cond = sync.NewCond(&r.mu)
	r.stats.MinConcurrency = r.limit
	p.m.Concurrency.Set(float64(r.limit))
	// A cancelled run must wake a dispatcher waiting for a free slot.
	stopWake := context.AfterFunc(rctx, func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer stopWake()

	err := r.loop()
	r.wg.Wait()
	r.mu.Lock()
	st := r.stats
	r.mu.Unlock()
	st.Elapsed = time.Since(start)
	if err == nil {
		if cause := context.Cause(rctx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		} else if ctx.Err() != nil {
			err = ctx.Err()
		}
	}
	if err == nil && r.errMaxFails != nil {
		err = r.errMaxFails
	}
	p.log.Info("posting done", zap.Int("batches", st.Batches), zap.Int("success", st.Success), zap.Int("failed", st.Failed),
		zap.Int("deferred", st.Deferred), zap.Int("retried", st.Retried), zap.Int("unconfirmed", st.Unconfirmed),
		zap.Duration("elapsed", st.Elapsed), zap.Float64("per_second", float64(st.Success+st.Failed)/max(st.Elapsed.Seconds(), 1e-9)), zap.Error(err))
	return st, err
}

func (r *run) loop() error {
	p := r.p
	if err := p.waitReady(r.ctx); err != nil {
		return err
	}
	var after int64
	var carry []Row
	for r.ctx.Err() == nil {
		r.mu.Lock()
		stop, ready := r.errMaxFails != nil, r.needReady
		r.needReady = false
		r.mu.Unlock()
		if stop {
			break
		}
		if ready {
			if err := p.waitReady(r.ctx); err != nil {
				return err
			}
		}
		qctx, cancel := context.WithTimeout(r.ctx, 60*time.Second)
		rows, err := p.st.Postable(qctx, after, p.cfg.Page, p.cfg.Now().UTC())
		cancel()
		if err != nil {
			if r.ctx.Err() != nil {
				break
			}
			return fmt.Errorf("read postable credentials after record %d: %w", after, err)
		}
		for _, row := range rows {
			after = max(after, row.RecordID)
		}
		all := append(carry, rows...)
		carry = nil
		full := len(rows) >= p.cfg.Page
		if full {
			// The page's last corp may go on in the next page; keep its
			// rows for that page so the corp is posted in one request.
			all, carry = holdBack(all, p.cfg.Batch)
		}
		for _, b := range batches(all, p.cfg.Batch) {
			if !r.dispatch(b) {
				break
			}
		}
		if len(rows) == 0 {
			break
		}
	}
	return nil
}

// dispatch waits for a slot under the adaptive limit and posts b in the
// background; false when the run is ending.
func (r *run) dispatch(b []Row) bool {
	r.mu.Lock()
	r.adapt()
	for r.inFlight >= r.limit && r.ctx.Err() == nil && r.errMaxFails == nil {
		r.cond.Wait()
		r.adapt()
	}
	if r.ctx.Err() != nil || r.errMaxFails != nil {
		r.mu.Unlock()
		return false
	}
	r.inFlight++
	r.seq++
	id := fmt.Sprintf("%s-%06d", r.prefix, r.seq)
	r.mu.Unlock()
	r.p.m.InFlight.Inc()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			r.p.m.InFlight.Dec()
			r.mu.Lock()
			r.inFlight--
			r.cond.Broadcast()
			r.mu.Unlock()
		}()
		r.postBatch(id, b)
	}()
	return true
}

// adapt applies the back-off to what finished since the last check; r.mu
// is held.
func (r *run) adapt() {
	fails, oks := r.doneFail-r.seenFail, r.doneOK-r.seenOK
	r.seenFail, r.seenOK = r.doneFail, r.doneOK
	r.factor = max(0, r.factor+failFactor*fails-oks)
	switch {
	case r.limit > 1 && r.factor > failThreshold:
		r.limit = max(1, int(0.5+float64(r.limit)*reduceFactor))
		r.factor, r.zeroSeq = 0, 0
		r.p.log.Warn("too many posting errors, fewer requests in flight", zap.Int("concurrency", r.limit))
	case r.factor == 0:
		r.zeroSeq++
		if r.zeroSeq > successesToRise && r.limit < r.p.cfg.Concurrency {
			r.limit = min(r.p.cfg.Concurrency, int(0.5+increaseFactor*float64(r.limit)))
			r.zeroSeq = 0
			r.p.log.Info("posting is stable, more requests in flight", zap.Int("concurrency", r.limit))
		}
	default:
		r.zeroSeq = 0
	}
	r.stats.MinConcurrency = min(r.stats.MinConcurrency, r.limit)
	r.p.m.Concurrency.Set(float64(r.limit))
	r.p.m.ErrorFactor.Set(float64(r.factor))
}

// writeTimeout bounds a write-back. It runs detached from the run's
// context: an answer that arrived is committed even while shutting down,
// so it is never posted again.
const writeTimeout = 30 * time.Second

func (r *run) postBatch(id string, rows []Row) {
	p := r.p
	body, sendable, bad := encode(rows)
	if len(bad) > 0 {
		r.writeBack(id, bad, false)
	}
	if len(sendable) == 0 {
		return
	}
	ids := make([]int64, len(sendable))
	for i, row := range sendable {
		ids[i] = row.RecordID
	}
	sctx, cancel := context.WithTimeout(r.ctx, writeTimeout)
	err := p.st.MarkSent(sctx, ids, id)
	cancel()
	if err != nil {
		if r.ctx.Err() == nil {
			r.cancel(fmt.Errorf("mark batch %s (records %d..%d) sent: %w", id, ids[0], ids[len(ids)-1], err))
		}
		return
	}
	faults.Point("after-sent")

	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			r.mu.Lock()
			r.stats.Retried++
			r.mu.Unlock()
			p.m.Retries.Inc()
			if !sleep(r.ctx, backoff(p.cfg.Backoff, attempt)) {
				return // shutting down: the rows stay queued, marked sent
			}
		}
		answer, retry, err := r.post(id, body, len(sendable))
		if err == nil {
			out := make([]Result, len(sendable))
			for i, a := range answer {
				out[i] = Result{RecordID: sendable[i].RecordID, Success: a.Success, Result: cut(a.Result)}
				if !a.Success && out[i].Result == "" {
					out[i].Result = "the controller answered success=false without a message"
				}
			}
			faults.Point("after-answer")
			r.finish(id, out)
			return
		}
		lastErr = err
		if !retry {
			// The controller answered, but not with outcomes we can use:
			// the batch fails as a whole and is not posted again.
			r.writeBack(id, fail(sendable, err.Error()), true)
			return
		}
		if r.ctx.Err() != nil {
			return
		}
		p.log.Warn("posting a batch failed, will retry", zap.String("batch", id), zap.Int64("first_record", ids[0]),
			zap.Int("attempt", attempt+1), zap.Error(err))
		if attempt >= p.cfg.Retries {
			break
		}
	}
	// Out of retries. As the original does: a healthy controller means the
	// batch itself is the trouble (N with the error); an unhealthy one
	// leaves the rows queued for the next run.
	msg := fmt.Sprintf("posting to the controller failed %d times: %v", p.cfg.Retries+1, lastErr)
	r.mu.Lock()
	r.needReady = true
	r.mu.Unlock()
	if p.probe(r.ctx) {
		r.writeBack(id, fail(sendable, msg), true)
		return
	}
	p.log.Error("controller not ready, batch left queued", zap.String("batch", id), zap.Int64s("records", ids), zap.Error(lastErr))
	p.m.Posted.WithLabelValues("deferred").Add(float64(len(sendable)))
	r.mu.Lock()
	r.stats.Deferred += len(sendable)
	r.doneFail += len(sendable)
	r.mu.Unlock()
}

func fail(rows []Row, msg string) []Result {
	if msg == "" {
		msg = "Unspecified error posting to OrgBook"
	}
	out := make([]Result, len(rows))
	for i, row := range rows {
		out[i] = Result{RecordID: row.RecordID, Result: cut(msg)}
	}
	return out
}

// writeBack records rows that all failed; answered says whether it counts
// as an answered batch.
func (r *run) writeBack(id string, out []Result, answered bool) {
	if answered {
		r.finish(id, out)
		return
	}
	r.commit(id, out)
}

// finish writes an answered batch back and reports it.
func (r *run) finish(id string, out []Result) {
	if !r.commit(id, out) {
		return
	}
	ok := 0
	for _, o := range out {
		if o.Success {
			ok++
		}
	}
	r.mu.Lock()
	r.stats.Batches++
	r.mu.Unlock()
	if r.onBatch != nil {
		r.cbMu.Lock()
		r.onBatch(id, ok, len(out)-ok)
		r.cbMu.Unlock()
	}
}

// commit calls MarkPosted and counts the outcomes.
func (r *run) commit(id string, out []Result) bool {
	p := r.p
	wctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), writeTimeout)
	err := p.st.MarkPosted(wctx, out)
	cancel()
	if err != nil {
		ids := make([]int64, len(out))
		for i, o := range out {
			ids[i] = o.RecordID
		}
		// The controller has these; if the rows stay unwritten a later run
		// posts them again. Stop rather than pile up more of them.
		p.log.Error("writing back a posted batch failed; its rows will be posted again", zap.String("batch", id), zap.Int64s("records", ids), zap.Error(err))
		r.cancel(fmt.Errorf("write back batch %s (records %v): %w", id, ids, err))
		return false
	}
	ok := 0
	for _, o := range out {
		if o.Success {
			ok++
		}
	}
	p.m.Posted.WithLabelValues("success").Add(float64(ok))
	p.m.Posted.WithLabelValues("failed").Add(float64(len(out) - ok))
	r.mu.Lock()
	r.stats.Success += ok
	r.stats.Failed += len(out) - ok
	r.doneOK += ok
	r.doneFail += len(out) - ok
	if r.stats.Failed+r.stats.Deferred > p.cfg.MaxErrors && r.errMaxFails == nil {
		r.errMaxFails = fmt.Errorf("stopped posting: %d credentials failed, more than the %d allowed", r.stats.Failed+r.stats.Deferred, p.cfg.MaxErrors)
		r.cond.Broadcast()
	}
	r.mu.Unlock()
	return true
}

// answerItem is one item of the controller's answer; success must be
// present.
type answerItem struct {
	Success *bool   `json:"success"`
	Result  *string `json:"result"`
}

type outcome struct {
	Success bool
	Result  string
}

// post sends one request. retry says whether a failure may be retried (no
// answer, or a 5xx); an answer of the wrong length or shape is not.
func (r *run) post(id string, body []byte, n int) ([]outcome, bool, error) {
	p := r.p
	ctx, cancel := context.WithTimeout(r.ctx, p.cfg.Timeout)
	defer cancel()
	var wrote bool
	var wmu sync.Mutex
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		wmu.Lock()
		wrote = i.Err == nil
		wmu.Unlock()
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, p.cfg.URL+"/issue-credential", bytes.NewReader(body))
	if err != nil {
		return nil, false, fmt.Errorf("batch %s: build request: %w", id, err)
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := p.client.Do(req)
	var data []byte
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
	}
	p.m.Seconds.WithLabelValues().Observe(time.Since(start).Seconds())
	if err != nil {
		wmu.Lock()
		sent := wrote
		wmu.Unlock()
		status := "error"
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			status = "timeout"
		}
		p.m.Requests.WithLabelValues(status).Inc()
		if sent && r.ctx.Err() == nil {
			// The controller may have issued these; we cannot know, so the
			// batch goes again and the metric says so.
			p.m.Unconfirmed.Inc()
			r.mu.Lock()
			r.stats.Unconfirmed++
			r.mu.Unlock()
			return nil, true, fmt.Errorf("batch %s sent but not answered (%s): %w", id, status, err)
		}
		return nil, true, fmt.Errorf("batch %s: %w", id, err)
	}
	p.m.Requests.WithLabelValues(strconv.Itoa(resp.StatusCode)).Inc()
	if resp.StatusCode != http.StatusOK {
		msg := fmt.Errorf("controller answered %s: %s", resp.Status, snippet(data))
		return nil, resp.StatusCode >= 500, msg
	}
	out, err := parseAnswer(data, n)
	if err != nil {
		p.m.Requests.WithLabelValues("bad_answer").Inc()
		return nil, false, err
	}
	return out, false, nil
}

// parseAnswer checks the answer is an array of n {success, result}.
func parseAnswer(data []byte, n int) ([]outcome, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("controller answer is not a JSON array of {success, result}: %v: %s", err, snippet(data))
	}
	if len(items) != n {
		return nil, fmt.Errorf("controller answered %d results for %d credentials", len(items), n)
	}
	out := make([]outcome, n)
	for i, raw := range items {
		var it answerItem
		if err := json.Unmarshal(raw, &it); err != nil || it.Success == nil {
			return nil, fmt.Errorf("controller answer item %d is not {success, result}: %s", i, snippet(raw))
		}
		out[i].Success = *it.Success
		if it.Result != nil {
			out[i].Result = *it.Result
		}
	}
	return out, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if utf8.RuneCountInString(s) > 200 {
		s = string([]rune(s)[:200]) + "..."
	}
	return s
}

// cut fits a message into process_msg VARCHAR(255) as the original does:
// longer than 255 characters becomes the first 250 and "...".
func cut(s string) string {
	if utf8.RuneCountInString(s) <= 255 {
		return s
	}
	return string([]rune(s)[:250]) + "..."
}

// encode builds the request body: an array of {schema, version,
// attributes}, attributes being credential_json with reason_description
// added. Rows whose credential_json is not a JSON object are not sent and
// come back as failures.
func encode(rows []Row) (body []byte, sent []Row, bad []Result) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for _, row := range rows {
		js := strings.TrimSpace(row.JSON)
		if len(js) < 2 || js[0] != '{' || !json.Valid([]byte(js)) {
			bad = append(bad, Result{RecordID: row.RecordID, Result: cut(fmt.Sprintf("credential_json of record %d (corp %s) is not a JSON object; not posted", row.RecordID, row.Corp))})
			continue
		}
		if len(sent) > 0 {
			buf.WriteByte(',')
		}
		sent = append(sent, row)
		buf.WriteString(`{"schema":`)
		writeString(&buf, row.Schema)
		buf.WriteString(`,"version":`)
		writeString(&buf, row.Version)
		buf.WriteString(`,"attributes":{"reason_description":`)
		if row.Reason == "" {
			buf.WriteString("null")
		} else {
			writeString(&buf, row.Reason)
		}
		rest := strings.TrimSpace(js[1:])
		if rest != "}" {
			buf.WriteByte(',')
		}
		buf.WriteString(rest)
		buf.WriteByte('}')
	}
	buf.WriteByte(']')
	return buf.Bytes(), sent, bad
}

func writeString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // a string always marshals
	buf.Write(b)
}

func backoff(base time.Duration, attempt int) time.Duration {
	d := base << min(attempt-1, 10)
	d = min(d, 30*time.Second)
	// Jitter so that batches failed together do not come back together.
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// probe asks /readiness once.
func (p *Poster) probe(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, min(p.cfg.Timeout, 15*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.URL+"/readiness", nil)
	if err != nil {
		return false
	}
	resp, err := p.client.Do(req)
	if err != nil {
		p.m.Ready.Set(0)
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	ok := resp.StatusCode == http.StatusOK
	if ok {
		p.m.Ready.Set(1)
	} else {
		p.m.Ready.Set(0)
	}
	return ok
}

// waitReady polls /readiness until it answers 200, for up to
// ReadinessWait.
func (p *Poster) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(p.cfg.ReadinessWait)
	for {
		if p.probe(ctx) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("controller %s/readiness not ready after %v", p.cfg.URL, p.cfg.ReadinessWait)
		}
		p.log.Info("waiting for the controller to be ready", zap.String("url", p.cfg.URL))
		if !sleep(ctx, min(p.cfg.ReadinessPoll, time.Until(deadline)+time.Millisecond)) {
			return ctx.Err()
		}
	}
}
