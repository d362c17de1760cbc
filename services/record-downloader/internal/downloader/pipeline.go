package downloader

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/faults"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/runner"
	"tributary.dev/services/record-downloader/internal/announce"
	"tributary.dev/services/record-downloader/internal/consensus"
	"tributary.dev/services/record-downloader/internal/state"
)

// How the files of a batch are decided, downloaded and written: in
// parallel, CONCURRENCY downloads at a time, but each file is judged
// against the one before it in consensus order. The chain is the
// authority, as in the mirror node's Downloader.verify: a file whose
// previous hash (v2) or start running hash (v5/v6) does not equal what the
// last file written ends with is not written, not announced, and the
// position does not move; the copies of other hashes the network also
// signed are tried; a consensus time without enough signatures is passed
// over only when the next agreed file continues the chain without it.
//
// Each item hands the next a link: the hash the next file must start
// from, the address-book files' contents gathered so far, and whether it
// was written. A worker downloads its file's copy first and waits for its
// link only to check the chain, so downloads overlap; items are
// dispatched in consensus order so a worker never waits for one that has
// no slot.

// state of an item once decided.
const (
	written = iota
	noConsensus
	notChained
	aborted
)

// link is what an item hands the one after it, once decided.
type link struct {
	done    chan struct{}
	chain   []byte
	books   *recordstream.BookUpdater
	written bool
	// stop: items after this one are not decided in this batch (an
	// address book came into force, the process is stopping, or it
	// failed).
	stop bool
}

func newLink() *link { return &link{done: make(chan struct{})} }

func (l *link) set(chain []byte, books *recordstream.BookUpdater, written, stop bool) {
	l.chain, l.books, l.written, l.stop = chain, books, written, stop
	close(l.done)
}

func (l *link) halt() { l.set(nil, nil, false, true) }

// learnedBook is a 0.0.102 book an item's file completed.
type learnedBook struct {
	from   time.Time
	book   *recordstream.AddressBook
	raw    []byte
	source string
}

// done is an item written: what to announce and save.
type done struct {
	it      *item
	group   consensus.Group
	events  []announce.Event
	dirs    []string // directories written into, synced before the commit
	present bool     // found in the local directory, not fetched
	chain   []byte
	books   *recordstream.BookUpdater
	learned []learnedBook
}

// outcome is how an item was decided.
type outcome struct {
	state     int
	done      *done
	err       error
	unchained []string // the copies that did not continue the chain
	stopping  bool
}

// batchNext says what run does after a batch.
type batchNext int

const (
	batchDone batchNext = iota // nothing more now
	batchMore                  // list the next batch
	batchGrow                  // list again, further
)

// maxGroup bounds the files one commit covers.
const maxGroup = 64

// batch decides and writes the batch's consensus times in order.
func (d *Downloader) batch(ctx context.Context, sc *scope, b *batch, res *Result) (batchNext, error) {
	stems := b.sortedStems()
	if len(stems) == 0 {
		return batchDone, nil
	}
	items := d.items(ctx, b, stems)
	wctx, cancel := context.WithCancel(ctx)
	links := make([]*link, len(items)+1)
	for i := range links {
		links[i] = newLink()
	}
	links[0].set(sc.chain, sc.books, true, false)
	results := make([]chan outcome, len(items))
	for i := range results {
		results[i] = make(chan outcome, 1)
	}
	var wg sync.WaitGroup
	// On an early return the files not started are not started: cancel
	// first, then wait for those in flight.
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { d.dispatch(ctx, wctx, sc, items, links, results, &wg) })

	var group []*done
	var pending []int
	commit := func() error {
		err := d.commit(ctx, sc, group, res)
		group = nil
		return err
	}
	next := batchDone
	if b.cut {
		next = batchMore
	}
	failures := 0
collect:
	for i := range items {
		o := <-results[i]
		it := items[i]
		switch o.state {
		case aborted:
			if err := commit(); err != nil {
				return batchDone, err
			}
			if o.err != nil {
				return batchDone, o.err
			}
			if o.stopping {
				return batchDone, nil
			}
			break collect
		case written:
			d.reportSignatures(it, res)
			for _, p := range pending {
				d.passOver(items[p], it, res)
			}
			pending, failures = nil, 0
			group = append(group, o.done)
			learned := len(o.done.learned) > 0
			if learned || len(group) >= maxGroup || i+1 == len(items) || len(results[i+1]) == 0 {
				if err := commit(); err != nil {
					return batchDone, err
				}
			}
			if learned {
				// The files after it are checked with the new book: they
				// are listed and verified again in the next batch.
				return batchMore, nil
			}
		case noConsensus, notChained:
			d.reportSignatures(it, res)
			if err := commit(); err != nil {
				return batchDone, err
			}
			pending = append(pending, i)
			if o.state == notChained {
				failures++
				res.Unchained += len(o.unchained)
				d.log.Warn("agreed file does not continue the chain: not written",
					zap.String("consensus_time", it.stem), zap.Strings("copies", o.unchained),
					zap.String("last_written", sc.after), zap.String("must_start_from", hex.EncodeToString(sc.chain)))
			}
		}
	}
	if err := commit(); err != nil {
		return batchDone, err
	}
	if len(pending) == 0 {
		return next, nil
	}
	first := items[pending[0]]
	res.Waiting = first.stem
	for _, p := range pending {
		if len(items[p].groups) > 0 {
			res.WaitingOnChain = true
		}
	}
	if res.WaitingOnChain {
		d.log.Error("waiting on the chain: an agreed file after the position does not continue it; nothing after the position is written until the file before it is",
			zap.String("waiting_at", first.stem), zap.String("last_written", sc.after),
			zap.String("ends_with", hex.EncodeToString(sc.chain)), zap.Int("signatures", len(first.sigs)),
			zap.String("best_weighing", first.best.String()))
		return batchDone, nil
	}
	d.log.Debug("waiting for signatures", zap.String("consensus_time", first.stem), zap.String("weighing", first.best.String()))
	if b.cut {
		return batchGrow, nil
	}
	return batchDone, nil
}

// passOver counts a consensus time the chain went on without: the next
// agreed file continues it from the file before.
func (d *Downloader) passOver(it, next *item, res *Result) {
	res.Skipped++
	if len(it.groups) == 0 {
		d.m.ConsensusFail.Inc()
		d.log.Warn("consensus not reached, and the next agreed file continues the chain without it: not part of the stream",
			zap.String("consensus_time", it.stem), zap.String("weighing", it.best.String()), zap.String("next", next.stem))
		return
	}
	d.log.Warn("agreed file passed over: the next agreed file continues the chain without it",
		zap.String("consensus_time", it.stem), zap.String("next", next.stem))
}

// dispatch starts the items' workers in consensus order, each once it has
// a slot (3 × CONCURRENCY files in memory at most). After a consensus time
// without consensus, or a file that did not continue the chain, it starts
// the next only when the one before is decided, and stops after two
// agreed files in a row that do not continue it: the stream then waits,
// and no more of it is downloaded in vain.
func (d *Downloader) dispatch(ctx, wctx context.Context, sc *scope, items []*item, links []*link, results []chan outcome, wg *sync.WaitGroup) {
	sem := make(chan struct{}, d.cfg.Concurrency)
	inflight := make(chan struct{}, 3*d.cfg.Concurrency)
	doubt, failures, stop := false, 0, false
	for i, it := range items {
		prev := links[i]
		if !stop && i > 0 {
			if len(items[i-1].groups) == 0 {
				doubt = true
			}
			select {
			case <-prev.done:
				doubt = doubt || !prev.written
			default:
			}
			if doubt {
				select {
				case <-prev.done:
				case <-wctx.Done():
				}
				switch {
				case wctx.Err() != nil, prev.stop:
					stop = true
				case prev.written:
					doubt, failures = false, 0
				case len(items[i-1].groups) > 0:
					failures++
					stop = failures >= 2
				}
			}
		}
		if !stop && runner.Stopping(ctx) {
			stop = true
		}
		if !stop {
			select {
			case inflight <- struct{}{}:
			case <-wctx.Done():
				stop = true
			}
		}
		if stop {
			links[i+1].halt()
			results[i] <- outcome{state: aborted, stopping: runner.Stopping(ctx)}
			continue
		}
		wg.Go(func() {
			defer func() { <-inflight }()
			results[i] <- d.work(ctx, wctx, sc, it, prev, links[i+1], sem)
		})
	}
}

// work decides one item and writes its file if it is the next of the
// chain.
func (d *Downloader) work(ctx, wctx context.Context, sc *scope, it *item, prev, self *link, sem chan struct{}) outcome {
	acquire := func() bool {
		select {
		case sem <- struct{}{}:
			return true
		case <-wctx.Done():
			return false
		}
	}
	if runner.Stopping(ctx) {
		self.halt()
		return outcome{state: aborted, stopping: true}
	}
	var copies []*fileCopy
	if len(it.groups) > 0 {
		if !acquire() {
			self.halt()
			return outcome{state: aborted, err: wctx.Err()}
		}
		if runner.Stopping(ctx) {
			// Asked to stop while waiting for a slot: what is done is
			// committed, the rest waits for the next start.
			<-sem
			self.halt()
			return outcome{state: aborted, stopping: true}
		}
		copies = append(copies, d.fetchCopy(wctx, sc, it, it.groups[0]))
		<-sem
	}
	select {
	case <-prev.done:
	case <-wctx.Done():
		self.halt()
		return outcome{state: aborted, err: wctx.Err()}
	}
	if prev.stop {
		self.halt()
		return outcome{state: aborted}
	}
	if len(it.groups) == 0 {
		self.set(prev.chain, prev.books, false, false)
		return outcome{state: noConsensus}
	}
	var chosen *fileCopy
	var group consensus.Group
	var errs []error
	var unchained []string
	for gi, g := range it.groups {
		if gi == len(copies) {
			if !acquire() {
				self.halt()
				return outcome{state: aborted, err: wctx.Err()}
			}
			copies = append(copies, d.fetchCopy(wctx, sc, it, g))
			<-sem
		}
		c := copies[gi]
		if c.err != nil {
			errs = append(errs, c.err)
			continue
		}
		if prev.chain != nil && !bytes.Equal(c.rf.PrevHash, prev.chain) {
			d.m.Unchained.WithLabelValues(c.node.account).Inc()
			why := fmt.Sprintf("node %s's copy (hash %s, signed by %v) starts from %x", c.node.account, g.HashHex(), g.Signers(), c.rf.PrevHash)
			unchained = append(unchained, why)
			d.log.Warn("copy refused: it does not continue the chain from the last file written (not written; the other signed copies are tried)",
				zap.String("consensus_time", it.stem), zap.String("copy", why), zap.String("must_start_from", hex.EncodeToString(prev.chain)))
			continue
		}
		chosen, group = c, g
		break
	}
	if chosen == nil {
		if len(errs) > 0 {
			// A copy that could not be had may be the one that continues
			// the chain: the pass fails and is tried again.
			self.halt()
			return outcome{state: aborted, err: errors.Join(errs...)}
		}
		self.set(prev.chain, prev.books, false, false)
		return outcome{state: notChained, unchained: unchained}
	}
	books, learned, err := d.applyBooks(it, chosen, prev.books)
	if err != nil {
		self.halt()
		return outcome{state: aborted, err: err}
	}
	// The next file can be judged now; the writes go on in parallel.
	self.set(chosen.rf.ChainHash(), books, true, len(learned) > 0)
	w, err := d.write(it, group, chosen)
	if err != nil {
		return outcome{state: aborted, err: err}
	}
	w.chain, w.books, w.learned = chosen.rf.ChainHash(), books, learned
	return outcome{state: written, done: w}
}

// applyBooks follows the address-book updates of a file written: the
// 0.0.102 books they complete come into force 1 ns after their
// transaction (AddressBookServiceImpl.getAddressBookStartConsensusTimestamp).
func (d *Downloader) applyBooks(it *item, c *fileCopy, before *recordstream.BookUpdater) (*recordstream.BookUpdater, []learnedBook, error) {
	if len(c.ops) == 0 {
		return before, nil, nil
	}
	books := before.Clone()
	var learned []learnedBook
	for _, op := range c.ops {
		b, err := books.Apply(op)
		if err != nil {
			return nil, nil, fmt.Errorf("consensus time %s: %w", it.stem, err)
		}
		d.m.BookUpdates.WithLabelValues(strconv.FormatInt(op.File, 10)).Inc()
		if b == nil {
			continue
		}
		if op.File != recordstream.BookFileNodeDetails {
			d.log.Info("address book 0.0.101 updated in the stream (the keys that verify the stream are 0.0.102's, as the mirror node takes them)",
				zap.String("file", c.rf.Name), zap.Int("nodes", b.Len()))
			continue
		}
		learned = append(learned, learnedBook{
			from: time.Unix(0, op.ConsensusNs+1).UTC(), book: b, raw: books.Parts()[op.File],
			source: fmt.Sprintf("0.0.102 update in %s (transaction %d)", strings.TrimSuffix(c.rf.Name, ".gz"), op.Item),
		})
	}
	return books, learned, nil
}

// write puts the copy's files in place, the record file last (the parser
// looks for record files; its sidecars and signature are there before
// it), and returns their events. A copy found in place is announced
// again, not written.
func (d *Downloader) write(it *item, g consensus.Group, c *fileCopy) (*done, error) {
	w := &done{it: it, group: g, present: c.present}
	for _, f := range c.files {
		if !c.present {
			dir, err := d.writeFile(f)
			if err != nil {
				d.m.Errors.WithLabelValues("write").Inc()
				return nil, err
			}
			if !slices.Contains(w.dirs, dir) {
				w.dirs = append(w.dirs, dir)
			}
		}
		w.events = append(w.events, d.event(it, g, f))
	}
	if !c.present {
		for _, f := range c.files {
			d.m.Files.WithLabelValues(f.kind, f.node.account).Inc()
			d.m.Bytes.WithLabelValues(f.kind).Add(float64(len(f.data)))
		}
	}
	return w, nil
}

// writeFile puts f in place; its directory is synced at the commit.
func (d *Downloader) writeFile(f file) (string, error) {
	p, err := d.sink.Create(f.rel)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(p, faults.Reader("write-"+f.kind, bytes.NewReader(f.data))); err != nil {
		p.Abort()
		return "", err
	}
	return p.CommitUnsynced()
}

func (d *Downloader) event(it *item, g consensus.Group, f file) announce.Event {
	sum := sha512.Sum384(f.data)
	signers := make([]string, len(g.Nodes))
	for i, s := range g.Nodes {
		signers[i] = announce.NodeNumber(s.Account)
	}
	return announce.Event{
		Node: announce.NodeNumber(f.node.account), NodeID: f.node.id, Network: d.cfg.Layout.Network,
		Bucket: d.store.Bucket(), Object: f.key, Path: f.rel, Kind: f.kind,
		Size: int64(len(f.data)), SHA384: hex.EncodeToString(sum[:]), ConsensusStart: announce.ConsensusStart(it.t),
		FileHash: g.HashHex(), Signers: signers,
	}
}

// commit announces a run of written items (consecutive, in consensus
// order), keeps the address books they completed, and saves the
// position after the last.
func (d *Downloader) commit(ctx context.Context, sc *scope, group []*done, res *Result) error {
	if len(group) == 0 {
		return nil
	}
	// The names must be durable before they are announced: one sync per
	// directory for the whole group.
	var events []announce.Event
	var dirs []string
	for _, w := range group {
		events = append(events, w.events...)
		for _, dir := range w.dirs {
			if !slices.Contains(dirs, dir) {
				dirs = append(dirs, dir)
			}
		}
	}
	for _, dir := range dirs {
		if err := d.sink.SyncDir(dir); err != nil {
			d.m.Errors.WithLabelValues("write").Inc()
			return err
		}
	}
	if d.ann != nil {
		if err := d.ann.Publish(ctx, events); err != nil {
			d.m.Errors.WithLabelValues("publish").Inc()
			return fmt.Errorf("announce %s…%s: %w", group[0].it.stem, group[len(group)-1].it.stem, err)
		}
		d.m.Announced.Add(float64(len(events)))
		res.Announced += len(events)
	}
	// A book is kept before the position passes the file that carries it:
	// a crash between the two finds the file again.
	for _, w := range group {
		for _, lb := range w.learned {
			if d.cfg.BookStore != nil {
				if err := d.cfg.BookStore.Save(lb.from, lb.raw, lb.source); err != nil {
					d.m.Errors.WithLabelValues("state").Inc()
					return err
				}
			}
			if err := d.cfg.Books.Add(lb.from, lb.book, lb.source); err != nil {
				return err
			}
			res.Books++
			d.log.Info("address book in force from the stream: files from this time on are checked with its keys",
				zap.Time("in_force_from", lb.from), zap.String("source", lb.source), zap.Int("nodes", lb.book.Len()))
		}
	}
	for _, w := range group {
		sc.after, sc.chain, sc.books = w.it.stem, w.chain, w.books
		if w.present {
			res.Present++
		} else {
			res.Files++
		}
		res.Last = w.it.stem
	}
	faults.Point("after-publish")
	last := group[len(group)-1]
	pos := state.Position{Stem: last.it.stem, Time: last.it.t, Hash: last.group.HashHex(), Chain: hex.EncodeToString(sc.chain)}
	for f, raw := range sc.books.Parts() {
		if len(raw) > 0 {
			if pos.BookParts == nil {
				pos.BookParts = map[string]string{}
			}
			pos.BookParts[strconv.FormatInt(f, 10)] = base64.StdEncoding.EncodeToString(raw)
		}
	}
	if err := d.state.Save(sc.posName, pos); err != nil {
		d.m.Errors.WithLabelValues("state").Inc()
		return err
	}
	if !sc.backfill {
		d.m.verified(last.it.t)
		d.m.BookNodes.Set(float64(d.cfg.Books.At(last.it.t).Len()))
	}
	if d.Beat != nil {
		d.Beat()
	}
	if d.Committed != nil {
		d.Committed(*res)
	}
	return nil
}
