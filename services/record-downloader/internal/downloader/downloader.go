// Package downloader is one pass of the record downloader, the way the
// Hedera mirror node verifies what it downloads (importer Downloader,
// NodeSignatureVerifier, ConsensusValidatorImpl): list the nodes' signature
// files after the last file written, verify each with its node's key from
// the address book in force at the file's consensus time, group them by
// the hash they sign, and take a hash when its signers carry the
// threshold of the whole network in that book. For each such consensus
// time, in order, download the record file from a signer, check it has
// the agreed hash and continues the chain from the last file written —
// the chain is the authority: a copy that does not is not written, the
// other signers' copies are tried, and if none continues it the stream
// waits — fetch and check its sidecars, write everything atomically into
// the local record directory, announce it, and only then move the
// position. The address book follows the stream: successful updates of
// 0.0.102 in the files written produce the book the files after them are
// checked with.
package downloader

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/runner"
	"tributary.dev/services/record-downloader/internal/announce"
	"tributary.dev/services/record-downloader/internal/fetch"
	"tributary.dev/services/record-downloader/internal/names"
	"tributary.dev/services/record-downloader/internal/sink"
	"tributary.dev/services/record-downloader/internal/state"
)

// Config is what a pass needs to know; the service's main fills it from
// the environment.
type Config struct {
	// Layout is where the bucket keeps each node's files: the account
	// layout's prefix ("recordstreams/", possibly empty) and the node-id
	// layout's network and shard. Layout.Network also names the stream in
	// each event's Nats-Msg-Id.
	Layout names.Layout
	// PathType chooses the layout per node, as the mirror node's
	// CommonDownloaderProperties.pathType: account id, node id, or AUTO.
	PathType PathType
	// PathRefresh is how long AUTO keeps to the account layout before it
	// tries the node-id layout of a node whose listing is empty.
	PathRefresh time.Duration
	// Nodes are the nodes to download from, in the order record files are
	// tried (NODES); empty: every node of the address books in force.
	Nodes []NodeRef
	// Books are the network's address books by validity range: the
	// starting book and those learned from the stream.
	Books *recordstream.BookHistory
	// BookStore keeps the books learned from the stream (nil: in memory
	// only).
	BookStore BookStore
	// Threshold is the share of the network that must sign a hash.
	Threshold recordstream.Threshold
	// Realm of the network's accounts (Layout.Shard is the shard): the
	// address-book files are shard.realm.101/102.
	Realm int64
	// Concurrency bounds the downloads in flight.
	Concurrency int
	// Batch is how many signature files are listed per node at a time: a
	// bucket with years of files is read in batches, never listed whole.
	Batch int
	// StartAfter is where the live stream starts when no position was
	// saved yet: a consensus-time stem, or empty for the bucket's start.
	StartAfter string
}

// BookStore keeps a learned 0.0.102 book (its NodeAddressBook bytes) in
// force from a consensus time.
type BookStore interface {
	Save(from time.Time, raw []byte, source string) error
}

// Announcer publishes events; nil when notifications are off.
type Announcer interface {
	Publish(ctx context.Context, events []announce.Event) error
}

// Downloader runs passes.
type Downloader struct {
	cfg   Config
	store blob.Store
	fetch *fetch.Fetcher
	sink  *sink.Sink
	state *state.Store
	ann   Announcer
	log   *zap.Logger
	m     *Metrics
	paths *paths
	// Beat is called after every commit, so a long pass shows as progress
	// on /healthz. Nil is fine.
	Beat func()
	// Committed, when set, is told after every commit how many files the
	// run has written and found already there (a backfill's progress).
	Committed func(res Result)

	mu       sync.Mutex
	badNames map[string]bool // refused names already counted
	reported map[string]bool // stem/node signature failures already counted
}

// New checks cfg and returns a Downloader.
func New(cfg Config, store blob.Store, f *fetch.Fetcher, sk *sink.Sink, st *state.Store, ann Announcer, log *zap.Logger, m *Metrics) (*Downloader, error) {
	if cfg.Books == nil {
		return nil, errors.New("no address book")
	}
	for _, ref := range cfg.Nodes {
		if _, ok := findNode(cfg.Books.Books(), ref); !ok {
			return nil, fmt.Errorf("NODES: %s is in no address book known (ADDRESS_BOOK or one learned from the stream)", ref)
		}
	}
	if cfg.PathType == PathNodeID || cfg.PathType == PathAuto {
		if err := names.CheckNetwork(cfg.Layout.Network); err != nil {
			return nil, fmt.Errorf("NETWORK: %w", err)
		}
	}
	cfg.Concurrency = max(1, cfg.Concurrency)
	if cfg.Batch <= 0 {
		cfg.Batch = 1000
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	d := &Downloader{cfg: cfg, store: store, fetch: f, sink: sk, state: st, ann: ann, log: log, m: m,
		paths: newPaths(cfg.PathType, cfg.PathRefresh), badNames: map[string]bool{}, reported: map[string]bool{}}
	f.Observe = func(kind string, dur time.Duration) { m.Download.WithLabelValues(kind).Observe(dur.Seconds()) }
	f.Failed = func(error) { m.Errors.WithLabelValues("get").Inc() }
	return d, nil
}

// Result counts what a run did.
type Result struct {
	Files     int // record files written
	Present   int // record files already there (backfill)
	Skipped   int // consensus times passed over: the next agreed file continued the chain without them
	Last      string
	Announced int
	// Unchained counts copies refused because they do not continue the
	// chain from the last file written.
	Unchained int
	// Waiting is the consensus time the run stopped before, when it did
	// not reach the end of what the nodes have; WaitingOnChain says an
	// agreed file after it does not continue the chain (rather than the
	// newest files still waiting for signatures).
	Waiting        string
	WaitingOnChain bool
	// Books counts the address books learned from the stream.
	Books int
	// What the signatures said, for a backfill that verified nothing.
	SigsListed, SigsVerified, Agreed int
	SigErrors                        []string // a few, with node and reason
	BestWeighing                     string   // of a consensus time that did not reach the threshold
}

// ErrEmptyRange is returned by Backfill when no node has an object under
// the marker.
var ErrEmptyRange = errors.New("no objects under the backfill marker")

// ErrNothingVerified is returned by Backfill when it verified no file.
var ErrNothingVerified = errors.New("backfill verified nothing")

// ErrIncomplete is returned by Backfill when files under the marker were
// left unverified (it stopped waiting before one).
var ErrIncomplete = errors.New("backfill incomplete")

// Pass brings the live stream up to date: batches of signatures after
// the saved position until the nodes have no newer file that the network
// signed and that continues the chain.
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
	d.m.BookNodes.Set(float64(d.cfg.Books.At(pos.Time).Len()))
	sc, err := d.scopeFrom(state.Live, "", pos, false)
	if err != nil {
		return Result{}, err
	}
	res, err := d.run(ctx, sc)
	d.m.chainWait(res)
	return res, err
}

// Backfill downloads and verifies the files whose names start with marker,
// apart from the live position (which it never moves) and resumable by
// its own. Files already in the local directory are not fetched again. It
// fails when it verified nothing, saying why, and when it stopped before
// the end of the marker's files.
func (d *Downloader) Backfill(ctx context.Context, marker string) (Result, error) {
	if err := names.CheckMarker(marker); err != nil {
		return Result{}, err
	}
	pos, err := d.state.Load(state.Backfill(marker))
	if err != nil {
		d.m.Errors.WithLabelValues("state").Inc()
		return Result{}, err
	}
	done := pos.Stem != ""
	any, err := d.anyUnder(ctx, marker)
	if err != nil {
		return Result{}, err
	}
	if !any {
		return Result{}, fmt.Errorf("backfill %s: %w: nodes %v have nothing under %s", marker, ErrEmptyRange, d.nodeNames(time.Time{}), d.store.Bucket()+"/"+d.cfg.Layout.Prefix+"<node dir>/"+marker)
	}
	sc, err := d.scopeFrom(state.Backfill(marker), marker, pos, true)
	if err != nil {
		return Result{}, err
	}
	res, err := d.run(ctx, sc)
	if err != nil || runner.Stopping(ctx) {
		return res, err
	}
	switch {
	case res.Files+res.Present == 0 && !done:
		return res, fmt.Errorf("backfill %s: %w: %s", marker, ErrNothingVerified, whyNothing(res, d.cfg.Threshold))
	case res.Waiting != "":
		why := "the newest files under it wait for more signatures"
		if res.WaitingOnChain {
			why = "the next file the network signed does not continue the chain from the last one written (a file before it is missing or not yet signed)"
		}
		return res, fmt.Errorf("backfill %s: %w: stopped before %s: %s; %d files written, %d already there; run it again to go on", marker, ErrIncomplete, res.Waiting, why, res.Files, res.Present)
	}
	return res, nil
}

// whyNothing says why a run verified no file.
func whyNothing(res Result, th recordstream.Threshold) string {
	switch {
	case res.SigsListed == 0:
		return "no signature file was listed under the marker"
	case res.SigsVerified == 0:
		return fmt.Sprintf("none of the %d signature files verified with the keys of the address book in force at their time (wrong keys for that period? ADDRESS_BOOK must be the book of the marker's time, or the stream's updates from before it must have been followed); e.g. %v",
			res.SigsListed, res.SigErrors)
	case res.Agreed == 0:
		return fmt.Sprintf("%d of %d signature files verified, but at no consensus time did the signers carry %v of the network (%s mode; best: %s); too few nodes' signatures, or NODES/CONSENSUS_RATIO",
			res.SigsVerified, res.SigsListed, th.Ratio, th.Mode, res.BestWeighing)
	case res.WaitingOnChain:
		return fmt.Sprintf("files were agreed, but none continued the chain from the position (waiting before %s)", res.Waiting)
	}
	return fmt.Sprintf("waiting before %s for more signatures", res.Waiting)
}

// anyUnder reports whether some node has an object whose name starts with
// marker.
func (d *Downloader) anyUnder(ctx context.Context, marker string) (bool, error) {
	errFound := errors.New("found")
	var errs []error
	nodes := d.nodesFrom(time.Time{})
	for _, n := range nodes {
		for _, dir := range d.paths.candidates(d.cfg.Layout, n) {
			err := d.store.List(ctx, dir+marker, "", func(blob.Object) error { return errFound })
			if errors.Is(err, errFound) {
				return true, nil
			}
			if err != nil {
				d.m.Errors.WithLabelValues("list").Inc()
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 && len(errs) >= len(nodes) {
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
	// chain is the hash the next file must start from (nil: unknown, the
	// first file is taken as it is, as the mirror node does when it has
	// no previous hash).
	chain []byte
	// books is the address-book files' contents gathered so far.
	books *recordstream.BookUpdater
	// batch is how many signature files are listed per node this round.
	batch int
}

func (d *Downloader) scopeFrom(name, marker string, pos state.Position, backfill bool) (*scope, error) {
	parts := map[int64][]byte{}
	for f, b64 := range pos.BookParts {
		num, err := strconv.ParseInt(f, 10, 64)
		raw, err2 := base64.StdEncoding.DecodeString(b64)
		if err != nil || err2 != nil {
			return nil, fmt.Errorf("position %s: book_parts %q does not read (fix or remove it): %v", name, f, errors.Join(err, err2))
		}
		parts[num] = raw
	}
	return &scope{posName: name, marker: marker, after: pos.Stem, backfill: backfill, chain: unhex(pos.Chain),
		books: recordstream.NewBookUpdater(d.cfg.Layout.Shard, d.cfg.Realm, parts), batch: d.cfg.Batch}, nil
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil
	}
	return b
}

// maxBatchGrowth bounds how far a round's listing grows to find the file
// after consensus times without enough signatures.
const maxBatchGrowth = 16

func (d *Downloader) run(ctx context.Context, sc *scope) (Result, error) {
	var res Result
	for {
		if runner.Stopping(ctx) {
			return res, nil
		}
		res.Waiting, res.WaitingOnChain = "", false
		b, err := d.list(ctx, sc)
		if err != nil {
			return res, err
		}
		next, err := d.batch(ctx, sc, b, &res)
		if err != nil {
			return res, err
		}
		switch next {
		case batchMore:
			sc.batch = d.cfg.Batch
		case batchGrow:
			// Consensus times without enough signatures at the end of a
			// cut listing: the file that decides whether they are part
			// of the stream is beyond it. List further.
			if sc.batch >= d.cfg.Batch*maxBatchGrowth {
				return res, nil
			}
			sc.batch *= 2
		default:
			return res, nil
		}
	}
}
