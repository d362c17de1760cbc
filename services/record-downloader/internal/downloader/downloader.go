// Package downloader is one pass of the record downloader, the way the
// Hedera mirror node verifies what it downloads: list every configured
// node's signature files after the last verified consensus time, verify
// each with its node's key, group them by the file hash they sign, and for
// each consensus time whose hash enough nodes signed download the record
// file once (from a signer, falling back to the next), check it has that
// hash, fetch and check its sidecars, write everything atomically into the
// local record directory, announce it, and only then move the position.
package downloader

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/runner"
	"tributary.dev/services/record-downloader/internal/announce"
	"tributary.dev/services/record-downloader/internal/consensus"
	"tributary.dev/services/record-downloader/internal/fetch"
	"tributary.dev/services/record-downloader/internal/names"
	"tributary.dev/services/record-downloader/internal/sink"
	"tributary.dev/services/record-downloader/internal/state"
)

// Config is what a pass needs to know; the service's main fills it from
// the environment.
type Config struct {
	// Prefix is the bucket's key prefix before record<node>/
	// ("recordstreams/"; may be empty).
	Prefix string
	// Nodes are the node accounts whose buckets are read, in the order
	// record files are tried.
	Nodes []string
	// Book holds each node's key.
	Book *recordstream.AddressBook
	// Ratio of Nodes that must sign the same file hash.
	Ratio consensus.Ratio
	// Concurrency bounds the downloads in flight.
	Concurrency int
	// Batch is how many signature files are listed per node at a time: a
	// bucket with years of files is read in batches, never listed whole.
	Batch int
	// StartAfter is where the live stream starts when no position was
	// saved yet: a consensus-time stem, or empty for the bucket's start.
	StartAfter string
}

// Announcer publishes events; nil when notifications are off.
type Announcer interface {
	Publish(ctx context.Context, events []announce.Event) error
}

// Downloader runs passes.
type Downloader struct {
	cfg      Config
	required int
	store    blob.Store
	fetch    *fetch.Fetcher
	sink     *sink.Sink
	state    *state.Store
	ann      Announcer
	log      *zap.Logger
	m        *Metrics
	// Beat is called after every file written, so a long pass shows as
	// progress on /healthz. Nil is fine.
	Beat func()

	mu       sync.Mutex
	badNames map[string]bool // refused names already counted
}

// New checks cfg and returns a Downloader.
func New(cfg Config, store blob.Store, f *fetch.Fetcher, sk *sink.Sink, st *state.Store, ann Announcer, log *zap.Logger, m *Metrics) (*Downloader, error) {
	if len(cfg.Nodes) == 0 {
		return nil, errors.New("NODES: no nodes configured")
	}
	for _, n := range cfg.Nodes {
		if err := names.CheckAccount(n); err != nil {
			return nil, fmt.Errorf("NODES: %w", err)
		}
		if cfg.Book.Key(n) == nil {
			return nil, fmt.Errorf("NODES: node %s has no key in the address book or key directory", n)
		}
	}
	cfg.Concurrency = max(1, cfg.Concurrency)
	if cfg.Batch <= 0 {
		cfg.Batch = 1000
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	d := &Downloader{cfg: cfg, required: cfg.Ratio.Required(len(cfg.Nodes)), store: store, fetch: f, sink: sk, state: st,
		ann: ann, log: log, m: m, badNames: map[string]bool{}}
	f.Observe = func(kind string, dur time.Duration) { m.Download.WithLabelValues(kind).Observe(dur.Seconds()) }
	f.Failed = func(error) { m.Errors.WithLabelValues("get").Inc() }
	return d, nil
}

// Required is how many nodes must agree.
func (d *Downloader) Required() int { return d.required }

// Result counts what a pass did.
type Result struct {
	Files     int // record files written
	Skipped   int // consensus times that did not reach the ratio while later ones did
	Present   int // record files already there (backfill)
	Last      string
	Announced int
	// ChainBreaks counts files that do not continue the file before them
	// (reported, not refused: the nodes signed them, and the parser
	// checks the chain again).
	ChainBreaks int
}

// ErrEmptyRange is returned by Backfill when no configured node has an
// object under the marker.
var ErrEmptyRange = errors.New("no objects under the backfill marker")

// Pass brings the live stream up to date: batches of signatures after
// the saved position until the nodes have no newer file that enough of
// them signed.
func (d *Downloader) Pass(ctx context.Context) (Result, error) {
	pos, err := d.state.Load(state.Live)
	if err != nil {
		d.m.Errors.WithLabelValues("state").Inc()
		return Result{}, err
	}
	if pos.Stem == "" {
		pos.Stem = d.cfg.StartAfter
	}
	if !pos.Time.IsZero() {
		d.m.verified(pos.Time)
	}
	return d.run(ctx, scope{posName: state.Live, marker: "", after: pos.Stem, prevStem: pos.Stem, chain: unhex(pos.Chain)})
}

// Backfill downloads and verifies the files whose names start with marker,
// apart from the live position (which it never moves) and resumable by
// its own. Files already in the local directory are not fetched again.
func (d *Downloader) Backfill(ctx context.Context, marker string) (Result, error) {
	if err := names.CheckMarker(marker); err != nil {
		return Result{}, err
	}
	any, err := d.anyUnder(ctx, marker)
	if err != nil {
		return Result{}, err
	}
	if !any {
		return Result{}, fmt.Errorf("backfill %s: %w: nodes %v have nothing under %s", marker, ErrEmptyRange, d.cfg.Nodes, d.store.Bucket()+"/"+names.NodeDir(d.cfg.Prefix, "<node>")+marker)
	}
	pos, err := d.state.Load(state.Backfill(marker))
	if err != nil {
		d.m.Errors.WithLabelValues("state").Inc()
		return Result{}, err
	}
	return d.run(ctx, scope{posName: state.Backfill(marker), marker: marker, after: pos.Stem, backfill: true, prevStem: pos.Stem, chain: unhex(pos.Chain)})
}

// anyUnder reports whether some node has an object whose name starts with
// marker.
func (d *Downloader) anyUnder(ctx context.Context, marker string) (bool, error) {
	errFound := errors.New("found")
	var errs []error
	for _, n := range d.cfg.Nodes {
		err := d.store.List(ctx, names.NodeDir(d.cfg.Prefix, n)+marker, "", func(blob.Object) error { return errFound })
		if errors.Is(err, errFound) {
			return true, nil
		}
		if err != nil {
			d.m.Errors.WithLabelValues("list").Inc()
			errs = append(errs, err)
		}
	}
	if len(errs) == len(d.cfg.Nodes) {
		return false, fmt.Errorf("backfill %s: no node could be listed: %w", marker, errors.Join(errs...))
	}
	return false, nil
}

// scope is what one run covers: the live stream, or a backfill marker.
type scope struct {
	posName  string
	marker   string // listing prefix below each node's directory
	after    string // the last stem done
	backfill bool
	// prevStem and chain are the last file done and the hash the next
	// must start from (nil: unknown, not checked).
	prevStem string
	chain    []byte
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil
	}
	return b
}

func (d *Downloader) run(ctx context.Context, sc scope) (Result, error) {
	var res Result
	for {
		if runner.Stopping(ctx) {
			return res, nil
		}
		b, err := d.list(ctx, sc)
		if err != nil {
			return res, err
		}
		more, err := d.batch(ctx, &sc, b, &res)
		if err != nil || !more {
			return res, err
		}
	}
}

// listed is one node's objects of one consensus time.
type listed struct {
	sig    names.Name
	record string // the record object's key, if listed
}

// batch is the signatures listed for one round: per stem, per node.
type batch struct {
	stems   map[string]map[string]*listed // stem -> node -> objects
	times   map[string]time.Time
	horizon time.Time // stems after it wait for the next batch (a node's listing was cut there)
	cut     bool      // some node had more than Batch signatures
	failed  bool      // some node could not be listed
}

func (d *Downloader) list(ctx context.Context, sc scope) (*batch, error) {
	b := &batch{stems: map[string]map[string]*listed{}, times: map[string]time.Time{}}
	var afterTime time.Time
	if sc.after != "" {
		t, err := time.Parse("2006-01-02T15_04_05.999999999Z", sc.after)
		if err != nil {
			return nil, fmt.Errorf("position %s: stem %q: %w", sc.posName, sc.after, err)
		}
		afterTime = t
	}
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		failed []error
	)
	sem := make(chan struct{}, d.cfg.Concurrency)
	for _, node := range d.cfg.Nodes {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			objs, last, cut, err := d.listNode(ctx, node, sc, afterTime)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				d.m.Errors.WithLabelValues("list").Inc()
				d.log.Warn("listing a node failed; going on with the others", zap.String("node", node), zap.Error(err))
				failed = append(failed, err)
				return
			}
			if !last.IsZero() {
				d.m.NodeLast.WithLabelValues(node).Set(float64(last.UnixNano()) / 1e9)
			}
			if cut {
				b.cut = true
				if b.horizon.IsZero() || last.Before(b.horizon) {
					b.horizon = last
				}
			}
			for stem, l := range objs {
				if b.stems[stem] == nil {
					b.stems[stem] = map[string]*listed{}
				}
				b.stems[stem][node] = l
				b.times[stem] = l.sig.Time
			}
		})
	}
	wg.Wait()
	if len(failed) == len(d.cfg.Nodes) {
		return nil, fmt.Errorf("list: no node could be listed: %w", errors.Join(failed...))
	}
	b.failed = len(failed) > 0
	return b, nil
}

var errStop = errors.New("stop listing")

// listNode lists up to Batch signature files of one node after the
// position, with the record objects beside them. Sidecars sort after
// every consensus time (s > digits), so the listing stops where they
// start.
func (d *Downloader) listNode(ctx context.Context, node string, sc scope, afterTime time.Time) (map[string]*listed, time.Time, bool, error) {
	dir := names.NodeDir(d.cfg.Prefix, node)
	startAfter := ""
	if sc.after != "" {
		startAfter = dir + sc.after + ".rcd_sig"
	}
	out := map[string]*listed{}
	records := map[string]string{}
	var last time.Time
	sigs, cut := 0, false
	err := d.store.List(ctx, dir+sc.marker, startAfter, func(o blob.Object) error {
		if len(o.Key) >= len(dir)+8 && o.Key[len(dir):len(dir)+8] == "sidecar/" {
			return errStop
		}
		n, err := names.Parse(d.cfg.Prefix, o.Key)
		if err != nil {
			d.refuseName(o.Key, err)
			return nil
		}
		if n.Node != node || !n.Time.After(afterTime) {
			return nil
		}
		switch n.Kind {
		case names.Record:
			records[n.Stem] = n.Key
		case names.Signature:
			if sigs == d.cfg.Batch {
				cut = true
				return errStop
			}
			sigs++
			out[n.Stem] = &listed{sig: n}
			if n.Time.After(last) {
				last = n.Time
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, time.Time{}, false, err
	}
	for stem, l := range out {
		l.record = records[stem]
	}
	return out, last, cut, nil
}

// refuseName counts a name that is not a record-stream name once per
// process (the listing meets it again every pass) and logs it.
func (d *Downloader) refuseName(key string, err error) {
	d.mu.Lock()
	seen := d.badNames[key]
	if !seen && len(d.badNames) < 100000 {
		d.badNames[key] = true
	}
	d.mu.Unlock()
	if seen {
		return
	}
	d.m.Quarantined.WithLabelValues("bad_name").Inc()
	d.log.Warn("object name refused", zap.String("bucket", d.store.Bucket()), zap.Error(err))
}

// sortedStems lists the batch's stems up to the horizon in consensus
// order (not listing order: a name's fraction may have 6 or 9 digits).
func (b *batch) sortedStems() []string {
	out := make([]string, 0, len(b.stems))
	for s, t := range b.times {
		if b.cut && t.After(b.horizon) {
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return b.times[out[i]].Before(b.times[out[j]]) })
	return out
}
