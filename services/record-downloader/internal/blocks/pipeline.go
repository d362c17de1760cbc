package blocks

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/faults"
	"tributary.dev/libs/runner"
	"tributary.dev/services/record-downloader/internal/announce"
	"tributary.dev/services/record-downloader/internal/blocksrc"
	"tributary.dev/services/record-downloader/internal/state"
)

// scope is what one run covers: the live stream or a backfill range,
// from the last link.
type scope struct {
	posName  string
	next     uint64 // the next block to take
	to       uint64 // the last block to take (blocksrc.Follow: no end)
	backfill bool
	// link is the last block taken (or the anchor): the next must chain
	// on it. Nil: the first block is taken as it comes.
	link     *blockstream.Link
	anchored bool
	cutover  *state.Cutover
}

func scopeFrom(name string, pos state.BlockPosition, to uint64) (*scope, error) {
	root, err := hex.DecodeString(pos.Root)
	if err != nil || len(root) != blockstream.HashSize {
		return nil, fmt.Errorf("block position %s: root_hash %q is not a SHA-384 hash in hex (fix or remove the file)", name, pos.Root)
	}
	link := &blockstream.Link{Number: pos.Number}
	copy(link.Root[:], root)
	return &scope{posName: name, next: pos.Number + 1, to: to, link: link, anchored: pos.Anchored, cutover: pos.Cutover}, nil
}

// last is the last block taken, or the block before the first (0 when
// the first is block 0).
func (sc *scope) last() uint64 {
	if sc.link != nil {
		return sc.link.Number
	}
	return max(sc.next, 1) - 1
}

// job is one block on its way through a run.
type job struct {
	blk  blocksrc.Block
	done chan struct{}
	err  error // it did not read or verify

	number   uint64
	root     blockstream.Hash
	prev     []byte // the footer's previous root hash
	time     time.Time
	wrapped  bool
	stored   []byte // the bytes to write: zstd
	storedSH string // their SHA-384, hex
	// proof is how far the block's proof verified (blockstream.Level).
	proof string
	// Of a wrapped record block: its record file's hash, what the file
	// must start from (the previous file's) and what it ends with.
	fileHash, filePrev, fileChain []byte

	// With confirmation: the root hash another source gave, and which.
	confirmed   bool
	confirmedBy string
	disagree    error
}

// reasons a block is refused, for the refused_total label.
func reasonOf(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{errDisagree, "disagreement"},
		{blockstream.ErrMisnamed, "misnamed"},
		{blockstream.ErrChainBroken, "chain_broken"},
		{blockstream.ErrTruncated, "truncated"},
		{blockstream.ErrTooLarge, "too_large"},
		{blockstream.ErrUnsupported, "unsupported"},
		{blockstream.ErrHashMismatch, "hash_mismatch"},
		{blockstream.ErrProof, "proof"},
		{blockstream.ErrMalformed, "malformed"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "malformed"
}

var errDisagree = errors.New("sources disagree")

// refusal is a block refused: not written, the position held before it.
type refusal struct {
	number uint64
	reason string
	err    error
}

func (r *refusal) Error() string {
	return fmt.Sprintf("block %d refused (%s): %v", r.number, r.reason, r.err)
}
func (r *refusal) Unwrap() error { return r.err }

// zstd encoder for blocks a block node served plain: the day directories
// hold every block as .blk.zstd, one name per block whatever its source.
var encoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(err) // only for invalid options
	}
	return e
})

// verify reads the block, computes its root hash and, with confirmation,
// asks the other sources for theirs. It runs in parallel, ahead of the
// in-order decisions; it keeps only what they need, not the items.
func (f *Follower) verify(ctx context.Context, j *job, others []blocksrc.Source) {
	defer close(j.done)
	r := f.readers.Get().(*blockstream.Reader)
	b, err := r.Parse(j.blk.Name, j.blk.Data)
	f.readers.Put(r)
	if err != nil {
		j.err = err
		return
	}
	root, alg, err := b.RootHash()
	if err != nil {
		j.err = err
		return
	}
	j.number, j.root, j.time, j.wrapped = b.Header.Number, root, b.Header.Time(), b.Wrapped
	j.proof = blockstream.LevelRootHash.String()
	if f.cfg.Verifier != nil {
		v, err := f.cfg.Verifier.Verify(b, root, alg)
		if err != nil {
			j.err = err
			return
		}
		j.proof = v.Level.String()
		if w := v.Wrapped; w != nil {
			j.fileHash, j.filePrev, j.fileChain = w.File.FileHash, w.File.PrevHash, w.File.ChainHash()
		}
	}
	if b.Wrapped && j.fileHash == nil {
		j.err = fmt.Errorf("%s: a wrapped record block, and no verifier of its record file's signatures: %w", j.blk.Name, blockstream.ErrProof)
		return
	}
	j.prev = bytes.Clone(b.Footer.PreviousRootHash)
	if j.number != j.blk.Number {
		j.err = fmt.Errorf("%s holds block %d: %w", j.blk.Name, j.number, blockstream.ErrMisnamed)
		return
	}
	if strings.HasSuffix(j.blk.Name, ".blk.zstd") {
		j.stored = j.blk.Data
	} else {
		j.stored = encoder().EncodeAll(j.blk.Data, nil)
	}
	sum := sha512.Sum384(j.stored)
	j.storedSH = hex.EncodeToString(sum[:])
	if f.confirming() {
		f.confirm(ctx, j, others)
	}
}

// confirm asks the other sources, in order, for the block's root hash:
// the first that has the block decides.
func (f *Follower) confirm(ctx context.Context, j *job, others []blocksrc.Source) {
	for _, s := range others {
		other, ok, err := blocksrc.One(ctx, s, j.number)
		if err != nil {
			f.log.Warn("confirming source failed", zap.String("source", s.Name()), zap.Uint64("block", j.number), zap.Error(err))
			f.m.SourceFailures.WithLabelValues(s.Name()).Inc()
			continue
		}
		if !ok {
			continue
		}
		r := f.readers.Get().(*blockstream.Reader)
		b, err := r.Parse(other.Name, other.Data)
		f.readers.Put(r)
		var root blockstream.Hash
		if err == nil {
			root, _, err = b.RootHash()
		}
		if err != nil {
			j.disagree = fmt.Errorf("%w: %s gave a block that does not read: %v", errDisagree, s.Name(), err)
			return
		}
		if root != j.root {
			j.disagree = fmt.Errorf("%w: %s gave root hash %s, %s gave %s", errDisagree, j.blk.Source, j.root, s.Name(), root)
			return
		}
		j.confirmed, j.confirmedBy = true, s.Name()
		return
	}
}

// SignedRecordFile: a wrapped record block whose rebuilt record file the
// network's RSA signatures (the consensus threshold of the address book
// in force) agree on; consecutive ones chain as record files do.
const SignedRecordFile = "rsa_signed"

// Why a run stopped without an error before a block.
const (
	waitNotThere     = "not there yet"
	waitNext         = "the block after it, to name its root hash"
	waitConfirmation = "a second source's copy"
)

// maxGroup bounds the blocks one commit covers.
const maxGroup = 64

// run takes blocks from src in order from the scope's position until src
// has no more, the scope ends, or one fails.
func (f *Follower) run(ctx context.Context, sc *scope, src blocksrc.Source, others []blocksrc.Source) (Result, error) {
	res := Result{Last: sc.last(), Source: src.Name()}
	confirm := f.confirming()
	fetchTo := sc.to
	if !confirm && fetchTo != blocksrc.Follow {
		// The last block of a range is taken once the next one names it.
		fetchTo++
	}
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	jobs := make(chan *job, f.cfg.Window)
	sem := make(chan struct{}, f.cfg.Workers)
	var fetchErr error
	wg.Go(func() {
		defer close(jobs)
		fetchErr = src.Blocks(wctx, sc.next, fetchTo, func(b blocksrc.Block) error {
			if runner.Stopping(ctx) {
				return blocksrc.ErrStop
			}
			j := &job{blk: b, done: make(chan struct{})}
			select {
			case sem <- struct{}{}:
			case <-wctx.Done():
				return wctx.Err()
			}
			wg.Go(func() {
				defer func() { <-sem }()
				f.verify(wctx, j, others)
			})
			select {
			case jobs <- j:
				return nil
			case <-wctx.Done():
				return wctx.Err()
			}
		})
	})

	c := &committer{f: f, sc: sc, res: &res}
	chain := &blockstream.Chain{}
	if sc.link != nil {
		chain = blockstream.NewChain(*sc.link)
	}
	var pending *job    // taken once the next block names its root hash
	var lastFile []byte // the last wrapped record file's chain hash
	expect := sc.next
	refuse := func(j *job, err error) error {
		reason := reasonOf(err)
		f.refused(j, reason, err)
		return &sourceError{source: src.Name(), err: &refusal{number: j.blk.Number, reason: reason, err: err}}
	}
	finish := func(err error) (Result, error) {
		if cerr := c.flush(ctx); cerr != nil {
			return res, cerr
		}
		return res, err
	}
	for {
		j, ok := c.next(ctx, jobs)
		if !ok {
			break
		}
		<-j.done
		if j.blk.Number != expect {
			return finish(&sourceError{source: src.Name(), err: fmt.Errorf("served block %d where %d was asked for", j.blk.Number, expect)})
		}
		expect++
		if j.err != nil {
			if pending != nil {
				res.Waiting, res.WaitingFor = pending.number, waitNext
			}
			return finish(refuse(j, j.err))
		}
		if j.wrapped {
			// History: its footer holds placeholders; its record file
			// carries the network's signatures and chains on the one
			// before it as record files do.
			if err := f.chainWrapped(chain, lastFile, j); err != nil {
				if pending != nil {
					res.Waiting, res.WaitingFor = pending.number, waitNext
				}
				return finish(refuse(j, err))
			}
			if pending != nil {
				// A block before a wrapped one: nothing names its root.
				res.Waiting, res.WaitingFor = pending.number, waitNext
				return finish(refuse(j, fmt.Errorf("wrapped record block %d after block %d: %w", j.number, pending.number, blockstream.ErrChainBroken)))
			}
			chain = blockstream.NewChain(blockstream.Link{Number: j.number, Root: j.root})
			lastFile = j.fileChain
			if err := c.take(ctx, j, SignedRecordFile); err != nil {
				return res, err
			}
			if sc.to != blocksrc.Follow && j.number >= sc.to {
				break
			}
			continue
		}
		lastFile = nil
		head := &blockstream.Block{Name: j.blk.Name, Header: blockstream.Header{Number: j.number}, Footer: blockstream.Footer{PreviousRootHash: j.prev}}
		if err := chain.Append(head, j.root); err != nil {
			if pending != nil {
				// Either may be the altered one: neither is taken.
				f.refused(pending, "chain_broken", fmt.Errorf("block %d does not name its root hash: %w", j.number, err))
			}
			return finish(refuse(j, err))
		}
		if confirm {
			if j.disagree != nil {
				return finish(refuse(j, j.disagree))
			}
			if !j.confirmed {
				res.Waiting, res.WaitingFor = j.number, waitConfirmation
				f.log.Info("block waits for a second source's copy (BLOCK_CONFIRM): not written yet",
					zap.Uint64("block", j.number), zap.String("source", src.Name()))
				return finish(nil)
			}
			if err := c.take(ctx, j, Confirmed); err != nil {
				return res, err
			}
		} else {
			if pending != nil {
				if err := c.take(ctx, pending, Chained); err != nil {
					return res, err
				}
			}
			pending = j
		}
		if sc.to != blocksrc.Follow && j.number >= sc.to {
			if confirm || j.number > sc.to {
				pending = nil
				break
			}
		}
	}
	if c.err != nil {
		return res, c.err
	}
	if err := c.flush(ctx); err != nil {
		return res, err
	}
	if pending != nil {
		res.Waiting, res.WaitingFor = pending.number, waitNext
		f.log.Debug("the newest block waits for the block after it to name its root hash", zap.Uint64("block", pending.number))
	}
	cancel()
	wg.Wait()
	switch {
	case fetchErr == nil, errors.Is(fetchErr, blocksrc.ErrStop), runner.Stopping(ctx):
	case errors.Is(fetchErr, context.Canceled) && ctx.Err() == nil:
		// Cancelled here, after the range ended.
	default:
		return res, &sourceError{source: src.Name(), err: fetchErr}
	}
	if res.Waiting == 0 && res.WaitingFor == "" {
		res.Waiting, res.WaitingFor = expect, waitNotThere
	}
	return res, nil
}

// chainWrapped checks a wrapped record block follows the last block: the
// next number, and its record file starting from what the previous
// wrapped record file ended with (when the run has one).
func (f *Follower) chainWrapped(chain *blockstream.Chain, lastFile []byte, j *job) error {
	if last, ok := chain.Last(); ok && (last.Number == ^uint64(0) || j.number != last.Number+1) {
		return fmt.Errorf("%s: block %d after block %d (want %d): %w", j.blk.Name, j.number, last.Number, last.Number+1, blockstream.ErrChainBroken)
	}
	if lastFile != nil && !bytes.Equal(j.filePrev, lastFile) {
		return fmt.Errorf("%s: its record file starts from %x, the previous one ends with %x: %w", j.blk.Name, j.filePrev, lastFile, blockstream.ErrChainBroken)
	}
	return nil
}

// refused counts, logs and quarantines a block not taken.
func (f *Follower) refused(j *job, reason string, err error) {
	f.m.Refused.WithLabelValues(reason, j.blk.Source).Inc()
	f.log.Error("block refused: not written, the position does not move past it",
		zap.Uint64("block", j.blk.Number), zap.String("source", j.blk.Source), zap.String("object", j.blk.Name),
		zap.String("reason", reason), zap.Error(err))
	ext := ".blk.zstd"
	if !strings.HasSuffix(j.blk.Name, ext) {
		ext = ".blk"
	}
	file := fmt.Sprintf("%s-%s%s", blockstream.FileName(j.blk.Number, blockstream.Plain)[:19], slug(j.blk.Source), ext)
	if _, qerr := f.sink.Quarantine("blocks", file, j.blk.Name, reason, j.blk.Data, err); qerr != nil {
		f.log.Error("quarantine", zap.Error(qerr))
		f.m.Errors.WithLabelValues("write").Inc()
	}
}

// slug makes a source name a file-name part: gs://b → gs-b.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.TrimSuffix(strings.ReplaceAll(s, "://", "-"), "/") {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// committer writes taken blocks (in parallel) and commits them in order,
// in groups: names synced, events published, position saved.
type committer struct {
	f     *Follower
	sc    *scope
	res   *Result
	group []*write
	err   error // a commit between blocks that failed
}

type write struct {
	j           *job
	level       string
	rel         string
	dir         string
	err         error
	done        chan struct{}
	confirmedBy string
}

// flushIdle is how long the committer waits for the next block before it
// commits what it has: long enough that blocks arriving back to back
// share one commit (one directory sync, one publish, one position save),
// short against the network's two seconds per block.
const flushIdle = 50 * time.Millisecond

// next is the next job; when a group waits to be committed and no job
// comes within flushIdle, the group is committed first. A commit that
// fails is reported by the flush at the end of the run.
func (c *committer) next(ctx context.Context, jobs <-chan *job) (*job, bool) {
	if len(c.group) == 0 {
		j, ok := <-jobs
		return j, ok
	}
	t := time.NewTimer(flushIdle)
	defer t.Stop()
	select {
	case j, ok := <-jobs:
		return j, ok
	case <-t.C:
	}
	if err := c.flush(ctx); err != nil {
		c.err = err
		return nil, false
	}
	j, ok := <-jobs
	return j, ok
}

// take writes j (it was verified to level) and commits the group when it
// is full.
func (c *committer) take(ctx context.Context, j *job, level string) error {
	day := j.time.UTC().Format(time.DateOnly)
	w := &write{j: j, level: level, rel: day + "/" + blockstream.FileName(j.number, blockstream.Zstd), done: make(chan struct{}), confirmedBy: j.confirmedBy}
	go func() {
		defer close(w.done)
		w.dir, w.err = c.f.writeFile(w.rel, j.stored)
	}()
	c.group = append(c.group, w)
	if len(c.group) >= maxGroup {
		return c.flush(ctx)
	}
	return nil
}

func (f *Follower) writeFile(rel string, data []byte) (string, error) {
	p, err := f.sink.Create(rel)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(p, faults.Reader("write-block", bytes.NewReader(data))); err != nil {
		p.Abort()
		return "", err
	}
	return p.CommitUnsynced()
}

// flush commits the group: every file whole under its name, the names
// durable, the events stored by the stream, then the position.
func (c *committer) flush(ctx context.Context) error {
	if len(c.group) == 0 {
		return nil
	}
	f, group := c.f, c.group
	c.group = nil
	var dirs []string
	var failed error
	for _, w := range group {
		<-w.done
		if w.err != nil && failed == nil {
			failed = w.err
		}
		if w.dir != "" && !slices.Contains(dirs, w.dir) {
			dirs = append(dirs, w.dir)
		}
	}
	if failed != nil {
		f.m.Errors.WithLabelValues("write").Inc()
		return failed
	}
	for _, dir := range dirs {
		if err := f.sink.SyncDir(dir); err != nil {
			f.m.Errors.WithLabelValues("write").Inc()
			return err
		}
	}
	if f.ann != nil {
		events := make([]announce.BlockEvent, len(group))
		for i, w := range group {
			events[i] = f.event(w)
		}
		if err := f.ann.PublishBlocks(ctx, events); err != nil {
			f.m.Errors.WithLabelValues("publish").Inc()
			return fmt.Errorf("announce blocks %d…%d: %w", group[0].j.number, group[len(group)-1].j.number, err)
		}
		f.m.Announced.Add(float64(len(events)))
	}
	faults.Point("after-publish-blocks")
	last := group[len(group)-1].j
	pos := state.BlockPosition{Number: last.number, Root: last.root.String(), Time: last.time, Anchored: c.sc.anchored,
		Cutover: c.sc.cutover, Source: last.blk.Source}
	if err := f.state.SaveBlocks(c.sc.posName, pos); err != nil {
		f.m.Errors.WithLabelValues("state").Inc()
		return err
	}
	// A later run of the same pass (after a failure) goes on from here.
	c.sc.next, c.sc.link = last.number+1, &blockstream.Link{Number: last.number, Root: last.root}
	for _, w := range group {
		f.m.Blocks.WithLabelValues(w.j.blk.Source, w.level, w.j.proof).Inc()
		f.m.Bytes.Add(float64(len(w.j.stored)))
	}
	c.res.Blocks += len(group)
	c.res.Last = last.number
	if !c.sc.backfill {
		f.m.LastBlock.Set(float64(last.number))
		f.m.LastBlockTime.Set(float64(last.time.UnixNano()) / 1e9)
		if f.cfg.Verified != nil {
			f.cfg.Verified(last.time)
		}
	}
	f.log.Debug("blocks committed", zap.Uint64("first", group[0].j.number), zap.Uint64("last", last.number), zap.String("position", c.sc.posName))
	if f.Beat != nil {
		f.Beat()
	}
	return nil
}

func (f *Follower) event(w *write) announce.BlockEvent {
	j := w.j
	e := announce.BlockEvent{
		Path: w.rel, Size: int64(len(j.stored)), SHA384: j.storedSH,
		ConsensusStart: announce.ConsensusStart(j.time), RootHash: j.root.String(), BlockNumber: j.number,
		PreviousHash: hex.EncodeToString(j.prev), Source: j.blk.Source, ConfirmedBy: w.confirmedBy,
		Verification: w.level, Proof: j.proof, Wrapped: j.wrapped, Network: f.cfg.Network,
	}
	if len(j.prev) != blockstream.HashSize {
		e.PreviousHash = ""
	}
	if j.blk.Object != "" {
		e.Bucket, e.Object = strings.TrimPrefix(strings.TrimPrefix(j.blk.Source, "gs://"), "s3://"), j.blk.Object
	}
	return e
}
