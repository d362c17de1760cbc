// Package blocks follows the block stream (HIP-1056) the way the record
// stream is followed: blocks by number from the configured sources — block
// nodes and the block-stream buckets — fetched and verified ahead of the
// position in parallel, judged and committed strictly in order: written
// into the day directories through temp file, fsync and rename, announced
// on the downloaded stream, and only then the position moved. A block that
// fails is not written and the position does not move.
//
// There is no TSS verification in Go, so trust is built from what can be
// checked (see the README, "What is verified"):
//   - every block's root hash is computed from its items, and its footer
//     must name the previous block's root hash (the chain);
//   - the chain starts at an anchor: at the cutover, the root hash of the
//     wrapped record block of the last record file the network's RSA
//     signatures verified;
//   - with two independent sources configured a block is taken only when
//     both give the same root hash; with one, a block is taken only once
//     the block after it names its root hash, so one altered block is
//     caught before it is written.
package blocks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/runner"
	"tributary.dev/services/record-downloader/internal/announce"
	"tributary.dev/services/record-downloader/internal/blocksrc"
	"tributary.dev/services/record-downloader/internal/sink"
	"tributary.dev/services/record-downloader/internal/state"
)

// Mode is BLOCK_SOURCE: which sources blocks are taken from.
type Mode string

const (
	// Auto prefers block nodes and falls back to the buckets after
	// FailuresBeforeSwitch consecutive failures, and back again, as the
	// mirror node's CompositeBlockSource does.
	Auto Mode = "auto"
	// BucketOnly takes blocks from the buckets only.
	BucketOnly Mode = "bucket"
	// BlockNodeOnly takes blocks from block nodes only.
	BlockNodeOnly Mode = "block-node"
)

// ParseMode reads BLOCK_SOURCE.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Auto, BucketOnly, BlockNodeOnly:
		return m, nil
	}
	return "", fmt.Errorf("%q: want auto, bucket or block-node", s)
}

// FailuresBeforeSwitch is how many consecutive failures of the source in
// use make Auto switch to the other kind (the mirror node's
// CompositeBlockSource.SourceHealth: 3).
const FailuresBeforeSwitch = 3

// Verification levels: how a block written was verified (the
// verification field of its event, the label of blocks_total).
const (
	// Confirmed: a second, independent source gave the same root hash,
	// and the block's footer names the previous block's root hash.
	Confirmed = "confirmed"
	// Chained: one source; the block's footer names the previous block's
	// root hash and the next block's footer names this one's.
	Chained = "chained"
)

// Config is what the follower needs to know.
type Config struct {
	// Network names the stream in each event's Nats-Msg-Id.
	Network string
	Mode    Mode
	// Confirm requires, when two or more sources are configured, a second
	// source's root hash for every block (BLOCK_CONFIRM).
	Confirm bool
	// Window is how many blocks are fetched and verified ahead of the
	// position (at least 1).
	Window int
	// Workers is how many blocks are verified at once.
	Workers int
	// StartBlock is where the live block stream starts when no block
	// position was saved and no cutover made one (nil: it does not start
	// on its own).
	StartBlock *uint64
	// Verified is told the timestamp of each block written, for the lag.
	Verified func(time.Time)
	// Verifier verifies each block's proof as far as it can be (nil: the
	// root hash and the chain only; wrapped record blocks are refused).
	// It also rebuilds a wrapped record block's record file, which the
	// cutover's anchor check needs.
	Verifier blockstream.Verifier
}

// Announcer publishes block events; nil when notifications are off.
type Announcer interface {
	PublishBlocks(ctx context.Context, events []announce.BlockEvent) error
}

// Follower follows the block stream.
type Follower struct {
	cfg     Config
	nodes   blocksrc.Source   // nil when no block node is configured
	buckets []blocksrc.Source // in order
	sink    *sink.Sink
	state   *state.Store
	ann     Announcer
	log     *zap.Logger
	m       *Metrics
	readers sync.Pool // *blockstream.Reader, one per verifying worker
	// Beat is called after every commit. Nil is fine.
	Beat func()

	mu          sync.Mutex
	current     int // index in candidates() of the source in use
	failures    int // consecutive failures of it
	waitAt      string
	cutoverWait time.Time
}

// New makes a Follower over the sources: nodes (may be nil) and buckets.
func New(cfg Config, nodes blocksrc.Source, buckets []blocksrc.Source, sk *sink.Sink, st *state.Store, ann Announcer, log *zap.Logger, m *Metrics) (*Follower, error) {
	if nodes == nil && len(buckets) == 0 {
		return nil, errors.New("no block source: set BLOCK_BUCKETS or BLOCK_NODES")
	}
	if cfg.Mode == "" {
		cfg.Mode = Auto
	}
	if cfg.Mode == BlockNodeOnly && nodes == nil {
		return nil, errors.New("BLOCK_SOURCE=block-node without BLOCK_NODES")
	}
	if cfg.Mode == BucketOnly && len(buckets) == 0 {
		return nil, errors.New("BLOCK_SOURCE=bucket without a block bucket (BLOCK_BUCKETS)")
	}
	cfg.Window = max(1, cfg.Window)
	cfg.Workers = max(1, cfg.Workers)
	if m == nil {
		m = NewMetrics(nil, nil, nil)
	}
	f := &Follower{cfg: cfg, nodes: nodes, buckets: buckets, sink: sk, state: st, ann: ann, log: log, m: m}
	f.readers.New = func() any {
		r := blockstream.NewReader(blockstream.DefaultLimits)
		r.RequireBlockName = true
		return r
	}
	f.m.active(f.candidates()[0].Name(), f.all())
	return f, nil
}

// candidates are the sources blocks may be taken from, in preference.
func (f *Follower) candidates() []blocksrc.Source {
	var out []blocksrc.Source
	if f.nodes != nil && f.cfg.Mode != BucketOnly {
		out = append(out, f.nodes)
	}
	if f.cfg.Mode != BlockNodeOnly {
		out = append(out, f.buckets...)
	}
	return out
}

// all is every configured source.
func (f *Follower) all() []blocksrc.Source {
	var out []blocksrc.Source
	if f.nodes != nil {
		out = append(out, f.nodes)
	}
	return append(out, f.buckets...)
}

// confirming says whether blocks need a second source's root hash.
func (f *Follower) confirming() bool { return f.cfg.Confirm && len(f.all()) >= 2 }

// pick is the source in use and the others that may confirm it (buckets
// first: one object each, no stream to open).
func (f *Follower) pick() (blocksrc.Source, []blocksrc.Source) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cands := f.candidates()
	src := cands[f.current%len(cands)]
	var others []blocksrc.Source
	for _, s := range append(append([]blocksrc.Source{}, f.buckets...), f.nodes) {
		if s != nil && s != src {
			others = append(others, s)
		}
	}
	return src, others
}

// failed counts a failure of src; after FailuresBeforeSwitch in a row the
// next candidate takes over. It reports whether it switched. A source
// that gave up by itself after its own retries (the block node client's
// GiveUpAfter, the mirror node's three) is switched from at once.
func (f *Follower) failed(src blocksrc.Source, why string, gaveUp bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	cands := f.candidates()
	if cands[f.current%len(cands)] != src {
		return false
	}
	f.failures++
	if gaveUp {
		f.failures = FailuresBeforeSwitch
	}
	f.m.SourceFailures.WithLabelValues(src.Name()).Inc()
	if f.failures < FailuresBeforeSwitch || len(cands) < 2 {
		return false
	}
	f.current = (f.current + 1) % len(cands)
	f.failures = 0
	next := cands[f.current]
	f.m.Switches.WithLabelValues(src.Name(), next.Name()).Inc()
	f.m.active(next.Name(), f.all())
	f.log.Warn("block source switched after consecutive failures", zap.String("from", src.Name()), zap.String("to", next.Name()),
		zap.Int("failures", FailuresBeforeSwitch), zap.String("last_failure", why))
	return true
}

// succeeded resets src's failures.
func (f *Follower) succeeded(src blocksrc.Source) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cands := f.candidates()
	if cands[f.current%len(cands)] == src {
		f.failures = 0
	}
}

// preferred says whether src is the first candidate.
func (f *Follower) preferred(src blocksrc.Source) bool { return f.candidates()[0] == src }

// Result is what a run did.
type Result struct {
	Blocks int    // blocks written
	Last   uint64 // the last block written, or the position's
	// Waiting is the block the run stopped before without an error, and
	// why (it waits for the block after it, for a second source, or is
	// not there yet).
	Waiting    uint64
	WaitingFor string
	Source     string
}

// ErrNoPosition: the live block stream has no position yet (the cutover
// has not happened and START_BLOCK is not set).
var ErrNoPosition = errors.New("no block position")

// Started reports whether the live block stream has a position (the
// cutover happened, or START_BLOCK started it).
func (f *Follower) Started() (bool, error) {
	_, found, err := f.state.LoadBlocks(state.Blocks)
	if err != nil {
		return false, err
	}
	return found || f.cfg.StartBlock != nil, nil
}

// Pass brings the live block stream up to date from its position.
func (f *Follower) Pass(ctx context.Context) (Result, error) {
	pos, found, err := f.state.LoadBlocks(state.Blocks)
	if err != nil {
		f.m.Errors.WithLabelValues("state").Inc()
		return Result{}, err
	}
	var sc *scope
	switch {
	case found:
		sc, err = scopeFrom(state.Blocks, pos, blocksrc.Follow)
		if err != nil {
			return Result{}, err
		}
		if pos.Cutover != nil {
			f.m.CutoverBlock.Set(float64(pos.Cutover.RecordBlock + 1))
		}
	case f.cfg.StartBlock != nil:
		sc = &scope{posName: state.Blocks, next: *f.cfg.StartBlock, to: blocksrc.Follow}
		f.log.Warn("the block stream starts at START_BLOCK without an anchor: its first block is taken as it comes, every later one must chain on it",
			zap.Uint64("start_block", *f.cfg.StartBlock))
	default:
		return Result{}, ErrNoPosition
	}
	if sc.anchored {
		f.m.Anchored.Set(1)
	} else {
		f.m.Anchored.Set(0)
	}
	res, err := f.follow(ctx, sc)
	f.blockWait(res, err)
	return res, err
}

// Backfill fetches and verifies blocks from..to (inclusive) apart from
// the live position, resumably (its own position).
func (f *Follower) Backfill(ctx context.Context, from, to uint64) (Result, error) {
	if to < from {
		return Result{}, fmt.Errorf("--blocks %d-%d: the range ends before it starts", from, to)
	}
	name := state.BackfillBlocks(from, to)
	pos, found, err := f.state.LoadBlocks(name)
	if err != nil {
		return Result{}, err
	}
	sc := &scope{posName: name, next: from, to: to, backfill: true}
	if found {
		if sc, err = scopeFrom(name, pos, to); err != nil {
			return Result{}, err
		}
		sc.backfill = true
		if pos.Number >= to {
			f.log.Info("backfill already done", zap.Uint64("from", from), zap.Uint64("to", to))
			return Result{Last: pos.Number}, nil
		}
	}
	res, err := f.follow(ctx, sc)
	if err != nil || runner.Stopping(ctx) {
		return res, err
	}
	if res.Last < to || (!found && res.Blocks == 0) {
		why := res.WaitingFor
		if why == "" {
			why = "not there"
		}
		return res, fmt.Errorf("backfill blocks %d-%d: %w: stopped before block %d (%s); %d blocks written; run it again to go on",
			from, to, ErrIncomplete, res.Waiting, why, res.Blocks)
	}
	return res, nil
}

// ErrIncomplete: a backfill stopped before the end of its range.
var ErrIncomplete = errors.New("backfill incomplete")

// follow runs the scope from its position with the source in use,
// switching sources on repeated failures, until the source has nothing
// more, the scope's end, or a failure it cannot get past.
func (f *Follower) follow(ctx context.Context, sc *scope) (Result, error) {
	var total Result
	total.Last = sc.last()
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		src, others := f.pick()
		res, err := f.run(ctx, sc, src, others)
		total.Blocks += res.Blocks
		if res.Blocks > 0 {
			total.Last = res.Last
		}
		total.Waiting, total.WaitingFor, total.Source = res.Waiting, res.WaitingFor, src.Name()
		var se *sourceError
		switch {
		case err == nil:
			if res.Blocks == 0 && res.WaitingFor == waitNotThere && !f.preferred(src) && f.cfg.Mode == Auto {
				// As the mirror node: the fallback having nothing new
				// counts against it, so the preferred source is tried
				// again once it had its chances.
				f.failed(src, "nothing new", false)
			} else {
				f.succeeded(src)
			}
			return total, nil
		case runner.Stopping(ctx):
			return total, nil
		case !errors.As(err, &se):
			return total, err
		}
		if res.Blocks > 0 {
			f.succeeded(src)
		}
		switched := f.failed(src, se.Error(), errors.Is(err, blocksrc.ErrGaveUp))
		// Each source gets its chances once per pass.
		if attempt >= FailuresBeforeSwitch*len(f.candidates()) {
			return total, err
		}
		f.log.Warn("block source failed; trying again", zap.String("source", src.Name()), zap.Error(err),
			zap.Bool("switched", switched), zap.Int("attempt", attempt))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return total, nil
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// sourceError is a failure a source is blamed for: it served a block that
// did not verify, did not chain or disagreed with another source, or
// could not serve at all. Local failures (disk, NATS, state) are not.
type sourceError struct {
	source string
	err    error
}

func (e *sourceError) Error() string { return e.source + ": " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// blockWait keeps BlockWait to the pass's outcome: one series, named by
// the block, while the live stream is held at a block that failed.
func (f *Follower) blockWait(res Result, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	at := ""
	var be *refusal
	if errors.As(err, &be) {
		at = fmt.Sprint(be.number)
	}
	if at == f.waitAt {
		return
	}
	if f.waitAt != "" {
		f.m.BlockWait.DeleteLabelValues(f.waitAt)
	}
	if at != "" {
		f.m.BlockWait.WithLabelValues(at).Set(float64(time.Now().UnixNano()) / 1e9)
	}
	f.waitAt = at
}
