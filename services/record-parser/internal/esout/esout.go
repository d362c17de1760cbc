// Package esout writes transaction documents to Elasticsearch: it installs
// the index template, sends documents in _bulk requests, retries what can
// succeed later and hands back what Elasticsearch refused for good, for the
// caller's dead-letter file.
//
// Mapping choices (template.json):
//   - transfers, token_transfers, nft_transfers, staking_reward_transfers,
//     max_custom_fees and assessed_custom_fees are nested: a query such as
//     "account 0.0.98 received more than 1 ℏ"
//     has to match account and amount of the same transfer, which flattened
//     object arrays cannot do. A transaction carries a handful of transfers
//     (the network caps transfer lists far below the index's nested
//     objects limit of 10000), so the hidden per-transfer documents cost
//     little.
//   - sidecars is a plain object: its only searchable fields are type and
//     migration, and detail is not parsed at all (enabled: false), since
//     sidecar contents vary by kind and would break a strict mapping.
//   - ids, timestamps in "s.nnnnnnnnn" form, names and hashes are keyword:
//     they are looked up exactly, never analysed; consensus_at is
//     date_nanos for range queries with nanosecond precision; max_fee and
//     valid_duration_seconds arrive as strings of a signed 64-bit number
//     and are coerced to long; type is the body's member number.
//   - base64 payloads are binary (kept in _source, not indexed); memo and
//     batch_key are keyword with index: false so they can still be
//     aggregated or shown.
package esout

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"

	"tributary.dev/libs/metrics"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

//go:embed template.json
var template []byte

// TemplateName is the composable index template Install puts.
const TemplateName = "hedera-transactions"

// Template returns the index template's JSON (a copy).
func Template() []byte { return bytes.Clone(template) }

// IndexName is the daily index of a file whose consensus starts at
// consensusStartNs: hedera-transactions-YYYY.MM.DD, UTC.
func IndexName(consensusStartNs int64) string {
	return "hedera-transactions-" + time.Unix(0, consensusStartNs).UTC().Format("2006.01.02")
}

// Config says where Elasticsearch is and how hard to try.
type Config struct {
	URLs     []string
	Username string
	Password string
	APIKey   string
	// Timeout bounds each request; default 30s.
	Timeout time.Duration
	// FlushBytes is the size of one bulk request body; default 5 MiB.
	FlushBytes int
	// Workers is how many bulk requests of one Write are in flight; default 2.
	Workers int
	// Retries is how many times a request, or its items that failed in a
	// way that can pass later, is sent again after the first attempt;
	// default 5.
	Retries int
	// Backoff is the wait before the first retry, doubled for each next
	// one up to MaxBackoff; defaults 200ms and 10s. Each wait is jittered
	// (half fixed, half random) so workers do not retry in step.
	Backoff, MaxBackoff time.Duration
	Log                 *zap.Logger
	Metrics             *Metrics
}

// Metrics counts bulk item failures and retries.
type Metrics struct {
	ItemErrors *prometheus.CounterVec // by ES error type
	Retries    prometheus.Counter
}

// NewMetrics registers the output's metrics on srv, as
// tributary_record_parser_<name>; a nil srv gives metrics registered
// nowhere (tests, utilities).
func NewMetrics(srv *metrics.Server) *Metrics {
	if srv == nil {
		srv = metrics.New("record-parser")
	}
	return &Metrics{
		ItemErrors: srv.Counter("bulk_item_errors_total", "Bulk items Elasticsearch answered with an error, by error type (retried ones included).", "reason"),
		Retries:    srv.Counter("bulk_retries_total", "Bulk requests sent again after a retryable failure of the request or of some of its items.").WithLabelValues(),
	}
}

// Output writes documents to one cluster. Safe for concurrent use.
type Output struct {
	cfg Config
	es  *elasticsearch.Client
	log *zap.Logger
	m   *Metrics
}

// New builds an Output; it does not contact the cluster (Check does).
func New(cfg Config) (*Output, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("elasticsearch output: no URL")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.FlushBytes <= 0 {
		cfg.FlushBytes = 5 << 20
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 5
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.MaxBackoff < cfg.Backoff {
		cfg.MaxBackoff = cfg.Backoff
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	es, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: cfg.URLs,
		Username:  cfg.Username,
		Password:  cfg.Password,
		APIKey:    cfg.APIKey,
		// Retries are ours (with backoff, metrics and the caller's
		// deadline); the client's own would resend on top of them.
		DisableRetry: true,
		Transport:    ownBody{http.DefaultTransport},
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch output %v: %w", cfg.URLs, err)
	}
	return &Output{cfg: cfg, es: es, log: cfg.Log, m: cfg.Metrics}, nil
}

// ownBody is a transport that reads a request's body before sending it,
// so the request owns its bytes: the client library hands out bodies that
// it may reuse once the response is back while net/http's writer can still
// be returning from its last write (a race the race detector catches),
// and a body that can be read again lets net/http resend on a dead
// keep-alive connection.
type ownBody struct{ http.RoundTripper }

func (t ownBody) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return t.RoundTripper.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return t.RoundTripper.RoundTrip(r)
}

// esError is an error object of an Elasticsearch answer.
type esError struct {
	Type     string `json:"type"`
	Reason   string `json:"reason"`
	CausedBy *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"caused_by"`
}

func (e *esError) String() string {
	if e == nil {
		return ""
	}
	s := e.Type + ": " + e.Reason
	if e.CausedBy != nil {
		s += " (" + e.CausedBy.Type + ": " + e.CausedBy.Reason + ")"
	}
	return s
}

// call sends one request with the per-request deadline and returns its
// status and body.
func (o *Output) call(ctx context.Context, what string, do func(context.Context) (int, io.ReadCloser, error)) (int, []byte, error) {
	rctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	status, body, err := do(rctx)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", what, err)
	}
	defer body.Close()
	data, err := io.ReadAll(body)
	if err != nil {
		return status, nil, fmt.Errorf("%s: reading the answer: %w", what, err)
	}
	return status, data, nil
}

func answerError(what string, status int, body []byte) error {
	var e struct {
		Error *esError `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != nil {
		return fmt.Errorf("%s: status %d: %s", what, status, e.Error)
	}
	return fmt.Errorf("%s: status %d: %.200s", what, status, body)
}

// Install puts the index template; putting it again replaces it with the
// same content, so every start may call it. Indices already created keep
// the mapping they were created with.
func (o *Output) Install(ctx context.Context) error {
	return o.putTemplate(ctx, TemplateName, template)
}

// putTemplate puts the composable index template name.
func (o *Output) putTemplate(ctx context.Context, name string, template []byte) error {
	what := "installing index template " + name
	status, body, err := o.call(ctx, what, func(ctx context.Context) (int, io.ReadCloser, error) {
		res, err := o.es.Indices.PutIndexTemplate(name, bytes.NewReader(template), o.es.Indices.PutIndexTemplate.WithContext(ctx))
		if err != nil {
			return 0, nil, err
		}
		return res.StatusCode, res.Body, nil
	})
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return answerError(what, status, body)
	}
	return nil
}

// Check is the readiness check: the cluster answers its health and is not
// red.
func (o *Output) Check(ctx context.Context) error {
	what := "elasticsearch cluster health"
	status, body, err := o.call(ctx, what, func(ctx context.Context) (int, io.ReadCloser, error) {
		res, err := o.es.Cluster.Health(o.es.Cluster.Health.WithContext(ctx))
		if err != nil {
			return 0, nil, err
		}
		return res.StatusCode, res.Body, nil
	})
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return answerError(what, status, body)
	}
	var h struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if h.Status == "red" {
		return fmt.Errorf("%s: cluster is red", what)
	}
	return nil
}

// Doc is one document to index under ID.
type Doc struct {
	ID     string
	Source []byte // one JSON document
}

// Rejected is a document Elasticsearch refused for good.
type Rejected struct {
	ID     string
	Status int
	Type   string
	Reason string
	Source []byte
}

// retryable says whether an item or request failure can pass later:
// overload (429, rejected execution) and server-side trouble (5xx).
func retryable(status int, typ string) bool {
	return status == http.StatusTooManyRequests || status >= 500 || typ == "es_rejected_execution_exception"
}

// Write indexes docs into index with the "index" action, so a document
// written again (a file parsed again) replaces the one with its _id. It
// returns once every document has a final result: indexed, or refused for
// good and returned in rejected. Failures that can pass later are retried
// with backoff, only for the documents they hit; when some still fail
// after Retries, or ctx ends, Write returns an error and the caller must
// not consider the documents written (writing them again is harmless).
//
// Bulk requests are built here rather than with esutil.BulkIndexer: the
// indexer neither retries single items nor says when a given batch is
// done, and its callbacks would have to be matched back to documents.
func (o *Output) Write(ctx context.Context, index string, docs []Doc) ([]Rejected, error) {
	if len(docs) == 0 {
		return nil, nil
	}
	lines := make([][]byte, len(docs)) // action and source lines of each doc
	var rejected []Rejected
	var chunks [][]int
	var cur []int
	size := 0
	for i, d := range docs {
		if d.ID == "" {
			return nil, fmt.Errorf("bulk into %s: document %d has no id", index, i)
		}
		src := d.Source
		if bytes.ContainsAny(src, "\r\n") {
			// A line break would split the document in the bulk body;
			// compacting keeps the JSON the same.
			var buf bytes.Buffer
			if err := json.Compact(&buf, src); err != nil {
				rejected = append(rejected, Rejected{ID: d.ID, Status: http.StatusBadRequest, Type: "document_parsing_exception",
					Reason: "source is not JSON: " + err.Error(), Source: d.Source})
				continue
			}
			src = buf.Bytes()
		}
		id, _ := json.Marshal(d.ID)
		line := make([]byte, 0, len(id)+len(src)+len(`{"index":{"_id":}}`)+2)
		line = append(line, `{"index":{"_id":`...)
		line = append(line, id...)
		line = append(line, "}}\n"...)
		line = append(line, src...)
		line = append(line, '\n')
		lines[i] = line
		if len(cur) > 0 && size+len(line) > o.cfg.FlushBytes {
			chunks = append(chunks, cur)
			cur, size = nil, 0
		}
		cur = append(cur, i)
		size += len(line)
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan []int)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range min(o.cfg.Workers, len(chunks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chunk := range work {
				rej, err := o.writeChunk(ctx, index, docs, lines, chunk)
				mu.Lock()
				rejected = append(rejected, rej...)
				if err != nil && firstErr == nil {
					firstErr = err
					// The file will be written again as a whole: the
					// other chunks need not finish.
					cancel(err)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, c := range chunks {
		select {
		case work <- c:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = fmt.Errorf("bulk into %s: %w", index, context.Cause(ctx))
	}
	if firstErr != nil {
		return nil, firstErr
	}
	pos := make(map[string]int, len(rejected))
	for i, d := range docs {
		pos[d.ID] = i
	}
	sort.SliceStable(rejected, func(a, b int) bool { return pos[rejected[a].ID] < pos[rejected[b].ID] })
	if len(rejected) > 0 {
		r := rejected[0]
		o.log.Warn("documents refused by elasticsearch", zap.String("index", index), zap.Int("refused", len(rejected)),
			zap.Int("documents", len(docs)), zap.String("first_id", r.ID), zap.Int("status", r.Status),
			zap.String("type", r.Type), zap.String("reason", r.Reason))
	}
	return rejected, nil
}

type bulkAnswer struct {
	Items []map[string]struct {
		ID     string   `json:"_id"`
		Status int      `json:"status"`
		Error  *esError `json:"error"`
	} `json:"items"`
}

// writeChunk sends one bulk request's documents until each has a final
// result or the retries run out.
func (o *Output) writeChunk(ctx context.Context, index string, docs []Doc, lines [][]byte, pending []int) ([]Rejected, error) {
	var rejected []Rejected
	what := "bulk into " + index
	for attempt := 0; ; attempt++ {
		var body bytes.Buffer
		for _, i := range pending {
			body.Write(lines[i])
		}
		status, data, err := o.call(ctx, what, func(ctx context.Context) (int, io.ReadCloser, error) {
			res, err := o.es.Bulk(bytes.NewReader(body.Bytes()), o.es.Bulk.WithIndex(index), o.es.Bulk.WithContext(ctx))
			if err != nil {
				return 0, nil, err
			}
			return res.StatusCode, res.Body, nil
		})
		var retry []int
		var last string
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s: %w (last: %v)", what, context.Cause(ctx), err)
			}
			retry, last = pending, err.Error()
		case retryable(status, ""):
			retry, last = pending, answerError(what, status, data).Error()
		case status != http.StatusOK:
			// The request itself is refused (bad request, credentials,
			// too large): resending it changes nothing.
			return nil, answerError(what, status, data)
		default:
			var ans bulkAnswer
			if err := json.Unmarshal(data, &ans); err != nil {
				return nil, fmt.Errorf("%s: decoding the answer: %w", what, err)
			}
			if len(ans.Items) != len(pending) {
				return nil, fmt.Errorf("%s: %d items answered for %d documents", what, len(ans.Items), len(pending))
			}
			for k, item := range ans.Items {
				i := pending[k]
				for _, res := range item { // one action per item
					if res.Status >= 200 && res.Status < 300 {
						continue
					}
					typ := "unknown"
					if res.Error != nil {
						typ = res.Error.Type
					}
					o.m.ItemErrors.WithLabelValues(typ).Inc()
					if retryable(res.Status, typ) {
						retry = append(retry, i)
						last = fmt.Sprintf("%s: status %d: %s", docs[i].ID, res.Status, res.Error)
						continue
					}
					r := Rejected{ID: docs[i].ID, Status: res.Status, Type: typ, Source: docs[i].Source}
					if res.Error != nil {
						r.Reason = res.Error.Reason
						if res.Error.CausedBy != nil {
							r.Reason += " (" + res.Error.CausedBy.Type + ": " + res.Error.CausedBy.Reason + ")"
						}
					}
					rejected = append(rejected, r)
				}
			}
		}
		if len(retry) == 0 {
			return rejected, nil
		}
		if attempt >= o.cfg.Retries {
			return nil, fmt.Errorf("%s: %d of %d documents still failing after %d attempts; last: %s",
				what, len(retry), len(pending), attempt+1, last)
		}
		o.m.Retries.Inc()
		t := time.NewTimer(o.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s: %w (while retrying %d documents; last: %s)", what, context.Cause(ctx), len(retry), last)
		case <-t.C:
		}
		pending = retry
	}
}

// backoff is the wait before retry number attempt+1: Backoff doubled per
// attempt up to MaxBackoff, half of it random.
func (o *Output) backoff(attempt int) time.Duration {
	d := o.cfg.Backoff
	for range attempt {
		d *= 2
		if d >= o.cfg.MaxBackoff {
			d = o.cfg.MaxBackoff
			break
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
