// Package poster drains the credential queue into the issuer controller:
// POST {URL}/issue-credential with batches of {schema, version,
// attributes}, many requests in flight with the original pipeline's
// adaptive back-off, and each answer written back to its row.
//
// No credential is issued twice by this package. Rows are claimed before
// they are sent (only rows nobody holds are taken); a request that was
// never sent (connection refused, 503/429 from a controller that did not
// read it) is retried; a request that was sent and never answered
// (timeout, connection lost after sending, a 5xx that may follow
// issuing) leaves its rows unconfirmed, and nothing sends them again
// unless the run is told to (Config.ResendAll, Config.Resend). A run asked
// to stop (runner.Stopping) starts no request and lets those in flight
// finish; what it claimed and did not send it gives back.
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
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"tributary.dev/libs/faults"
	"tributary.dev/libs/runner"
)

// Store is the credential queue (internal/epdb.DB through
// pipeline.PostStore).
type Store interface {
	// Claim takes up to limit postable rows with record id > after for
	// claim, in ascending record id: rows never sent, and rows held
	// unconfirmed since resendBefore (zero: none of those).
	Claim(ctx context.Context, claim string, after int64, limit int, now, resendBefore time.Time) ([]Row, error)
	// HoldOrphans holds rows claimed by a process that is gone as
	// unconfirmed, and says how many.
	HoldOrphans(ctx context.Context) (int, error)
	// MarkPosted writes back answers (Y or N with the message) under
	// their claims, and says how many rows took one.
	MarkPosted(ctx context.Context, results []Result) (int, error)
	// MarkUnconfirmed holds the claimed rows of a request sent and never
	// answered.
	MarkUnconfirmed(ctx context.Context, claim string, ids []int64) (int, error)
	// Release gives back claimed rows that were never sent; resend says
	// which were held before this claim (they are held again).
	Release(ctx context.Context, claim string, ids []int64, resend []bool) (int, error)
}

// Row is one claimed credential.
type Row struct {
	RecordID int64
	Corp     string
	Schema   string
	Version  string
	JSON     string  // credential_json: the attributes, a JSON object
	Reason   *string // credential_reason, sent as reason_description; nil is sent as null
	Resend   bool    // the row was unconfirmed: this is a second sending
	Claim    string  // the claim it was taken under (set by Store.Claim)
}

// Result is one row's outcome: Success with the thread id, or the failure
// message, already cut to fit process_msg.
type Result struct {
	RecordID int64
	Claim    string
	Success  bool
	Result   string
}

// CredentialWait is how long the controller waits for each credential's
// acknowledgement (bcreg-aca's MAX_CRED_RESPONSE_TIMEOUT default): it
// issues a request's credentials one after another, so a request of n may
// take n times this.
const CredentialWait = 120 * time.Second

// DefaultTimeout is the request timeout that follows from batch and the
// controller's wait per credential: every credential of a full request
// may take the whole wait, and a minute more for the request itself.
func DefaultTimeout(batch int, perCredential time.Duration) time.Duration {
	return time.Duration(batch)*perCredential + time.Minute
}

// Config tunes the poster; zero values take the defaults.
type Config struct {
	URL         string        // CONTROLLER_URL, e.g. http://localhost:5002
	Batch       int           // POST_BATCH: credentials per request, 10
	Concurrency int           // POST_CONCURRENCY: requests in flight at most, 32
	Timeout     time.Duration // one request, sent to answered: DefaultTimeout(Batch, CredentialWait)
	Retries     int           // tries after the first of a request that was never sent, 5
	Backoff     time.Duration // wait before the first retry, doubling to 30 s, 250 ms
	Page        int           // rows per claim, 3000
	MaxErrors   int           // stop once more credentials than this failed, 300
	// RunLimit bounds one run's posting (the original capped each stage at
	// ten minutes), so a backlog does not keep a service run from finding
	// new events; zero: no limit.
	RunLimit time.Duration
	// ResendAll sends the rows held unconfirmed again (`post
	// --unconfirmed`); Resend does so for rows held longer than it
	// (UNCONFIRMED_RESEND_AFTER); both zero: never.
	ResendAll     bool
	Resend        time.Duration
	FlushEvery    time.Duration // write-backs are gathered this long into one statement, 20 ms
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
	Deferred       int // credentials given back because the controller was not ready
	Retried        int // requests sent again after they were not sent
	Unconfirmed    int // credentials of requests sent and never answered, now held
	Orphaned       int // credentials a stopped process left claimed, now held
	Resent         int // held credentials sent again
	Released       int // claimed credentials given back unsent (stop, time limit)
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
	where  string // the controller URL without credentials, for messages
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
		cfg.Timeout = DefaultTimeout(cfg.Batch, CredentialWait)
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
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 20 * time.Millisecond
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
	return &Poster{cfg: cfg, st: st, log: cfg.Log, m: cfg.Metrics, client: client, where: Redact(cfg.URL)}
}

// Redact is a URL as messages may show it: no user, password or query
// (where an API key would be).
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	u.Fragment = ""
	return u.String()
}

// run is the state of one Run shared by its requests.
type run struct {
	p        *Poster
	ctx      context.Context
	cancel   context.CancelCauseFunc
	onBatch  func(batch string, success, failed int)
	prefix   string
	deadline time.Time // RunLimit's end; zero: none

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
	seq         int
	wg          sync.WaitGroup
	errMaxFails error

	writes chan written
	wdone  chan struct{}
	failed int // credentials answered N so far, written back or not (CONTROLLER_MAX_ERRORS)
	cbMu   sync.Mutex

	// Where the time went, for the closing log line.
	claimTime, flushTime, waitTime time.Duration
	flushes                        int
}

// put hands answers to the writer and counts them for the back-off and
// the error limit at once, before they are written: a run stops starting
// requests as soon as it has seen too many failures.
func (r *run) put(w written) {
	bad := 0
	for _, o := range w.results {
		if !o.Success {
			bad++
		}
	}
	r.mu.Lock()
	r.doneOK += len(w.results) - bad
	r.doneFail += bad
	r.failed += bad
	if r.failed+r.stats.Deferred > r.p.cfg.MaxErrors && r.errMaxFails == nil {
		r.errMaxFails = fmt.Errorf("stopped posting: %d credentials failed, more than the %d allowed", r.failed+r.stats.Deferred, r.p.cfg.MaxErrors)
		r.cond.Broadcast()
	}
	r.mu.Unlock()
	t0 := time.Now()
	r.writes <- w
	if d := time.Since(t0); d > time.Millisecond {
		r.mu.Lock()
		r.waitTime += d
		r.mu.Unlock()
	}
}

// written is one request's answers on their way to the database.
type written struct {
	batch    string
	results  []Result
	answered bool // an answered request (counted in Batches and announced)
}

// Run posts until nothing is postable, the run is asked to stop
// (runner.Stopping), RunLimit has passed, more than MaxErrors credentials
// failed, ctx ends or the store fails. It waits for the controller's
// readiness first and after failures. onBatch (may be nil) is called
// after each answered batch has been written back, one call at a time.
func (p *Poster) Run(ctx context.Context, onBatch func(batch string, success, failed int)) (Stats, error) {
	start := time.Now()
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r := &run{p: p, ctx: rctx, cancel: cancel, onBatch: onBatch, limit: p.cfg.Concurrency,
		prefix: fmt.Sprintf("%s-%04x", start.UTC().Format("20060102T150405"), rand.Uint32()&0xffff),
		writes: make(chan written, 4*p.cfg.Concurrency), wdone: make(chan struct{})}
	if p.cfg.RunLimit > 0 {
		r.deadline = start.Add(p.cfg.RunLimit)
	}
	r.cond = sync.NewCond(&r.mu)
	r.stats.MinConcurrency = r.limit
	p.m.Concurrency.Set(float64(r.limit))
	// A cancelled or stopping run must wake a dispatcher waiting for a
	// free slot.
	wake := func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	}
	stopWake := context.AfterFunc(rctx, wake)
	defer stopWake()
	go func() {
		// Stopping has no channel of its own to wait on: poll it.
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-r.wdone:
				return
			case <-t.C:
				if r.halted() != "" {
					wake()
				}
			}
		}
	}()
	var writers sync.WaitGroup
	for range writerCount {
		writers.Go(r.writer)
	}
	go func() {
		writers.Wait()
		close(r.wdone)
	}()

	err := r.loop()
	r.wg.Wait()
	close(r.writes)
	<-r.wdone
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
		zap.Int("orphaned", st.Orphaned), zap.Int("resent", st.Resent), zap.Int("released", st.Released),
		zap.Duration("elapsed", st.Elapsed), zap.Float64("per_second", float64(st.Success+st.Failed)/max(st.Elapsed.Seconds(), 1e-9)),
		zap.Duration("claiming", r.claimTime), zap.Duration("writing_back", r.flushTime), zap.Int("write_backs", r.flushes),
		zap.Duration("waiting_for_write_backs", r.waitTime), zap.Error(err))
	return st, err
}

// stopping says why no request may start now, or "".
func (r *run) stopping() string {
	if why := r.halted(); why != "" {
		return why
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.errMaxFails != nil {
		return "too many failures"
	}
	return ""
}

// halted is stopping without the failure count; it takes no lock.
func (r *run) halted() string {
	switch {
	case r.ctx.Err() != nil:
		return "cancelled"
	case runner.Stopping(r.ctx):
		return "shutting down"
	case !r.deadline.IsZero() && time.Now().After(r.deadline):
		return "run time limit"
	}
	return ""
}

func (r *run) resendBefore() time.Time {
	switch {
	case r.p.cfg.ResendAll:
		return r.p.cfg.Now().Add(time.Hour) // every held row, whenever it was held
	case r.p.cfg.Resend > 0:
		return r.p.cfg.Now().Add(-r.p.cfg.Resend)
	}
	return time.Time{}
}

func (r *run) loop() error {
	p := r.p
	if err := p.waitReady(r.ctx, r.stopping); err != nil {
		return err
	}
	if r.stopping() != "" {
		return nil
	}
	qctx, cancel := context.WithTimeout(r.ctx, 60*time.Second)
	orphans, err := p.st.HoldOrphans(qctx)
	cancel()
	if err != nil {
		return err
	}
	if orphans > 0 {
		p.log.Warn("credentials a stopped process had claimed are held as unconfirmed: it may have sent them; `post --unconfirmed` sends them again",
			zap.Int("credentials", orphans))
		p.m.Held.WithLabelValues("orphaned").Add(float64(orphans))
		r.mu.Lock()
		r.stats.Orphaned += orphans
		r.mu.Unlock()
	}
	type claimed struct {
		rows []Row
		err  error
	}
	claimPage := func(page int, after int64) claimed {
		qctx, cancel := context.WithTimeout(r.ctx, 60*time.Second)
		defer cancel()
		t0 := time.Now()
		rows, err := p.st.Claim(qctx, fmt.Sprintf("%s-%d", r.prefix, page), after, p.cfg.Page, p.cfg.Now().UTC(), r.resendBefore())
		r.mu.Lock()
		r.claimTime += time.Since(t0)
		r.mu.Unlock()
		return claimed{rows, err}
	}
	var after int64
	var carry []Row
	// The next page is claimed while this one is sent.
	var next chan claimed
	defer func() {
		if next != nil {
			r.release((<-next).rows)
		}
		r.release(carry)
	}()
	for page := 1; ; page++ {
		if why := r.stopping(); why != "" {
			p.log.Info("posting stops starting requests", zap.String("why", why))
			return nil
		}
		r.mu.Lock()
		ready := r.needReady
		r.needReady = false
		r.mu.Unlock()
		if ready {
			if err := p.waitReady(r.ctx, r.stopping); err != nil {
				return err
			}
		}
		var c claimed
		if next != nil {
			c, next = <-next, nil
		} else {
			c = claimPage(page, after)
		}
		rows, err := c.rows, c.err
		if err != nil {
			if r.ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("claim credentials to post after record %d: %w", after, err)
		}
		faults.Point("after-claim")
		for _, row := range rows {
			after = max(after, row.RecordID)
		}
		if len(rows) >= p.cfg.Page {
			ch := make(chan claimed, 1)
			go func(page int, after int64) { ch <- claimPage(page, after) }(page+1, after)
			next = ch
		}
		all := append(carry, rows...)
		carry = nil
		if len(rows) >= p.cfg.Page {
			// The page's last corp may go on in the next page; keep its
			// rows for that page so the corp is posted in one request.
			all, carry = holdBack(all, p.cfg.Batch)
		}
		bs := batches(all, p.cfg.Batch)
		for i, b := range bs {
			if !r.dispatch(b) {
				for _, rest := range bs[i:] {
					carry = append(carry, rest...)
				}
				return nil
			}
		}
		if len(rows) == 0 {
			return nil
		}
	}
}

// release gives back claimed rows that were never sent.
func (r *run) release(rows []Row) {
	if len(rows) == 0 {
		return
	}
	byClaim := map[string][]int64{}
	resend := map[string][]bool{}
	for _, row := range rows {
		byClaim[row.Claim] = append(byClaim[row.Claim], row.RecordID)
		resend[row.Claim] = append(resend[row.Claim], row.Resend)
	}
	n := 0
	for claim, ids := range byClaim {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), writeTimeout)
		k, err := r.p.st.Release(wctx, claim, ids, resend[claim])
		cancel()
		if err != nil {
			// Still claimed: the next run holds them as unconfirmed, which
			// costs an operator's look but never a second issue.
			r.p.log.Error("giving back unsent credentials failed; the next run holds them as unconfirmed", zap.String("claim", claim), zap.Error(err))
			continue
		}
		n += k
	}
	r.mu.Lock()
	r.stats.Released += n
	r.mu.Unlock()
}

// dispatch waits for a slot under the adaptive limit and posts b in the
// background; false when no request may start any more.
func (r *run) dispatch(b []Row) bool {
	r.mu.Lock()
	r.adapt()
	for r.inFlight >= r.limit && r.errMaxFails == nil && r.halted() == "" {
		r.cond.Wait()
		r.adapt()
	}
	if r.errMaxFails != nil || r.halted() != "" {
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

// failure is what became of a request that brought no usable answer.
type failure int

const (
	notSent    failure = iota + 1 // never reached the controller, or refused unread: send again
	unanswered                    // sent, and the controller may have issued it: hold
	refused                       // answered, but not with outcomes: the batch fails (N)
)

func (r *run) postBatch(id string, rows []Row) {
	p := r.p
	body, sendable, bad := encode(rows)
	if len(bad) > 0 {
		r.put(written{batch: id, results: bad})
	}
	if len(sendable) == 0 {
		return
	}
	faults.Point("before-send")
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if r.stopping() != "" {
				r.release(sendable)
				return
			}
			r.mu.Lock()
			r.stats.Retried++
			r.mu.Unlock()
			p.m.Retries.Inc()
			if !sleep(r.ctx, backoff(p.cfg.Backoff, attempt)) {
				r.release(sendable)
				return
			}
		}
		answer, kind, err := r.post(id, body, sendable)
		if err == nil {
			out := make([]Result, len(sendable))
			for i, a := range answer {
				out[i] = Result{RecordID: sendable[i].RecordID, Claim: sendable[i].Claim, Success: a.Success, Result: cut(a.Result)}
				if !a.Success && out[i].Result == "" {
					out[i].Result = "the controller answered success=false without a message"
				}
			}
			faults.Point("after-answer")
			r.put(written{batch: id, results: out, answered: true})
			return
		}
		lastErr = err
		switch kind {
		case unanswered:
			r.hold(id, sendable, err)
			return
		case refused:
			// The controller answered, but not with outcomes we can use:
			// the batch fails as a whole and is not posted again.
			r.put(written{batch: id, results: fail(sendable, err.Error()), answered: true})
			return
		}
		if r.ctx.Err() != nil {
			r.release(sendable)
			return
		}
		p.log.Warn("a request did not reach the controller, will retry", zap.String("batch", id), zap.Int64("first_record", sendable[0].RecordID),
			zap.Int("attempt", attempt+1), zap.Error(err))
		if attempt >= p.cfg.Retries {
			break
		}
	}
	// Out of retries, and the controller never had the batch. As the
	// original does: a healthy controller means the batch itself is the
	// trouble (N with the error); an unhealthy one leaves the rows queued
	// for the next run.
	msg := fmt.Sprintf("posting to the controller failed %d times: %v", p.cfg.Retries+1, lastErr)
	r.mu.Lock()
	r.needReady = true
	r.mu.Unlock()
	if p.probe(r.ctx) {
		r.put(written{batch: id, results: fail(sendable, msg), answered: true})
		return
	}
	p.log.Error("controller not ready, batch left queued", zap.String("batch", id), zap.Int64("first_record", sendable[0].RecordID), zap.Error(lastErr))
	r.release(sendable)
	p.m.Posted.WithLabelValues("deferred").Add(float64(len(sendable)))
	r.mu.Lock()
	r.stats.Deferred += len(sendable)
	r.doneFail += len(sendable)
	r.mu.Unlock()
}

// hold keeps the rows of a request sent and never answered as
// unconfirmed.
func (r *run) hold(id string, rows []Row, cause error) {
	p := r.p
	byClaim := map[string][]int64{}
	for _, row := range rows {
		byClaim[row.Claim] = append(byClaim[row.Claim], row.RecordID)
	}
	n := 0
	for claim, ids := range byClaim {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), writeTimeout)
		k, err := p.st.MarkUnconfirmed(wctx, claim, ids)
		cancel()
		if err != nil {
			// Still claimed: the next run holds them as orphans.
			p.log.Error("holding unconfirmed credentials failed; the next run holds them", zap.String("batch", id), zap.Error(err))
		}
		n += k
	}
	p.log.Warn("a request was sent and never answered: its credentials are held as unconfirmed (the controller may have issued them); `post --unconfirmed` sends them again",
		zap.String("batch", id), zap.Int64("first_record", rows[0].RecordID), zap.Int("credentials", n), zap.Error(cause))
	p.m.Unconfirmed.Inc()
	r.mu.Lock()
	r.stats.Unconfirmed += n
	r.needReady = true
	r.doneFail += len(rows)
	r.mu.Unlock()
}

func fail(rows []Row, msg string) []Result {
	if msg == "" {
		msg = "Unspecified error posting to OrgBook"
	}
	out := make([]Result, len(rows))
	for i, row := range rows {
		out[i] = Result{RecordID: row.RecordID, Claim: row.Claim, Result: cut(msg)}
	}
	return out
}

// writer gathers answers for FlushEvery (or a page's worth) and writes
// them back in one statement.
// writerCount write-backs run at once: credential_log's indexes make an
// answer's write cost more than its request.
const writerCount = 4

func (r *run) writer() {
	var pending []written
	n := 0
	t := time.NewTimer(r.p.cfg.FlushEvery)
	defer t.Stop()
	flush := func() {
		if len(pending) > 0 {
			r.flush(pending)
			pending, n = nil, 0
		}
	}
	for {
		select {
		case w, ok := <-r.writes:
			if !ok {
				flush()
				return
			}
			pending = append(pending, w)
			n += len(w.results)
			if n >= r.p.cfg.Page {
				flush()
			}
		case <-t.C:
			flush()
			t.Reset(r.p.cfg.FlushEvery)
		}
	}
}

// flush writes answers back, counts them and reports the answered
// batches.
func (r *run) flush(ws []written) {
	p := r.p
	var all []Result
	for _, w := range ws {
		all = append(all, w.results...)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), writeTimeout)
	t0 := time.Now()
	n, err := p.st.MarkPosted(wctx, all)
	r.mu.Lock()
	r.flushTime += time.Since(t0)
	r.flushes++
	r.mu.Unlock()
	cancel()
	if err != nil {
		// The controller has these; the rows stay claimed and the next run
		// holds them as unconfirmed. Stop rather than pile up more.
		p.log.Error("writing back answers failed; their credentials will be held as unconfirmed", zap.Int("credentials", len(all)), zap.Error(err))
		r.cancel(fmt.Errorf("write back %d answers (first record %d): %w", len(all), all[0].RecordID, err))
		return
	}
	if n != len(all) {
		p.log.Warn("some answers found their rows no longer claimed by this run (another process?)", zap.Int("answers", len(all)), zap.Int("written", n))
	}
	ok := 0
	for _, o := range all {
		if o.Success {
			ok++
		}
	}
	p.m.Posted.WithLabelValues("success").Add(float64(ok))
	p.m.Posted.WithLabelValues("failed").Add(float64(len(all) - ok))
	r.mu.Lock()
	r.stats.Success += ok
	r.stats.Failed += len(all) - ok
	for _, w := range ws {
		if w.answered {
			r.stats.Batches++
		}
	}
	r.mu.Unlock()
	if r.onBatch != nil {
		r.cbMu.Lock() // one call at a time, whichever writer
		defer r.cbMu.Unlock()
		for _, w := range ws {
			if !w.answered {
				continue
			}
			good := 0
			for _, o := range w.results {
				if o.Success {
					good++
				}
			}
			r.onBatch(w.batch, good, len(w.results)-good)
		}
	}
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

// post sends one request and says what became of it when it brought no
// usable answer.
func (r *run) post(id string, body []byte, rows []Row) ([]outcome, failure, error) {
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
		return nil, refused, fmt.Errorf("batch %s: build the request to %s: %w", id, p.where, err)
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
	wmu.Lock()
	sent := wrote
	wmu.Unlock()
	if sent {
		resent := 0
		for _, row := range rows {
			if row.Resend {
				resent++
			}
		}
		if resent > 0 {
			p.m.Resent.Add(float64(resent))
			r.mu.Lock()
			r.stats.Resent += resent
			r.mu.Unlock()
		}
	}
	if err != nil {
		err = p.plain(err)
		status := "error"
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || (errors.As(err, &ne) && ne.Timeout()) {
			status = "timeout"
		}
		p.m.Requests.WithLabelValues(status).Inc()
		if sent {
			// The controller may have issued these; we cannot know.
			cause := "connection"
			if status == "timeout" {
				cause = "timeout"
				if r.ctx.Err() != nil {
					cause = "shutdown"
				}
			}
			p.m.Held.WithLabelValues(cause).Add(float64(len(rows)))
			return nil, unanswered, fmt.Errorf("batch %s sent to %s but not answered (%s): %w", id, p.where, status, err)
		}
		return nil, notSent, fmt.Errorf("batch %s not sent to %s: %w", id, p.where, err)
	}
	p.m.Requests.WithLabelValues(strconv.Itoa(resp.StatusCode)).Inc()
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("batch %s: controller %s answered %s: %s", id, p.where, resp.Status, snippet(data))
		switch {
		case resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests:
			// The controller refuses these before it reads the body (not
			// synced with its agent, or too busy): nothing was issued.
			return nil, notSent, err
		case resp.StatusCode >= 500:
			// An error on the way (the controller's, or a proxy's time
			// limit) may come after some credentials were issued.
			p.m.Held.WithLabelValues("status").Add(float64(len(rows)))
			return nil, unanswered, err
		}
		return nil, refused, err
	}
	out, err := parseAnswer(data, len(rows))
	if err != nil {
		p.m.Requests.WithLabelValues("bad_answer").Inc()
		return nil, refused, err
	}
	return out, 0, nil
}

// plain turns a transport error into one that names the controller
// without its credentials (url.Error carries the whole URL).
func (p *Poster) plain(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, p.where, ue.Err)
	}
	return err
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

// encode builds the request body as the original's submitter did: an
// array of {schema, version, attributes}, attributes being credential_json
// with reason_description added last (its value as stored: "" stays "",
// NULL is null). Rows whose credential_json is not a JSON object are not
// sent and come back as failures.
func encode(rows []Row) (body []byte, sent []Row, bad []Result) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for _, row := range rows {
		js := strings.TrimSpace(row.JSON)
		if len(js) < 2 || js[0] != '{' || !json.Valid([]byte(js)) {
			bad = append(bad, Result{RecordID: row.RecordID, Claim: row.Claim, Result: cut(fmt.Sprintf("credential_json of record %d (corp %s) is not a JSON object; not posted", row.RecordID, row.Corp))})
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
		buf.WriteString(`,"attributes":`)
		inner := strings.TrimSpace(js[1 : len(js)-1])
		buf.WriteByte('{')
		if inner != "" {
			buf.WriteString(inner)
			buf.WriteByte(',')
		}
		buf.WriteString(`"reason_description":`)
		if row.Reason == nil {
			buf.WriteString("null")
		} else {
			writeString(&buf, *row.Reason)
		}
		buf.WriteString("}}")
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
	ok := p.Ready(ctx) == nil
	return ok
}

// Ready asks /readiness once: nil when it answered 200. It sets the
// controller_ready gauge.
func (p *Poster) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(p.cfg.Timeout, 15*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.URL+"/readiness", nil)
	if err != nil {
		return fmt.Errorf("readiness of %s: %w", p.where, err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		p.m.Ready.Set(0)
		return fmt.Errorf("readiness of %s: %w", p.where, p.plain(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		p.m.Ready.Set(0)
		return fmt.Errorf("readiness of %s: %s", p.where, resp.Status)
	}
	p.m.Ready.Set(1)
	return nil
}

// waitReady polls /readiness until it answers 200, for up to
// ReadinessWait, or until stop has a reason.
func (p *Poster) waitReady(ctx context.Context, stop func() string) error {
	deadline := time.Now().Add(p.cfg.ReadinessWait)
	for {
		if p.probe(ctx) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if stop() != "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("controller %s/readiness not ready after %v", p.where, p.cfg.ReadinessWait)
		}
		p.log.Info("waiting for the controller to be ready", zap.String("url", p.where))
		// Asleep in short steps, so a stop is noticed before the next probe.
		for end := time.Now().Add(min(p.cfg.ReadinessPoll, time.Until(deadline)+time.Millisecond)); time.Now().Before(end); {
			if stop() != "" {
				return nil
			}
			if !sleep(ctx, min(time.Until(end), time.Second)) {
				return ctx.Err()
			}
		}
	}
}
