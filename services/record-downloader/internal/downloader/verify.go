package downloader

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/recordstream"
	"tributary.dev/services/record-downloader/internal/consensus"
	"tributary.dev/services/record-downloader/internal/fetch"
)

// item is one consensus time of a batch, with what the network's
// signatures say of it.
type item struct {
	stem   string
	t      time.Time
	listed map[int64]*listed
	sigs   map[int64]*sigResult
	// groups are the files the network signed (their signers carry the
	// threshold), the heaviest first; empty: no consensus (yet).
	groups []consensus.Group
	best   recordstream.Weighing
	book   recordstream.DatedBook
}

// sigResult is one node's signature file of one stem.
type sigResult struct {
	signed consensus.Signed
	raw    []byte
	ok     bool // read and verified
	// reason and err say why not: too_large, bad_signature, not_found,
	// fetch (a transient failure).
	reason string
	err    error
	data   []byte // the bytes refused, for the quarantine
}

// items verifies the batch's signatures, each with the key of the
// address book in force at its consensus time, and decides each stem.
func (d *Downloader) items(ctx context.Context, b *batch, stems []string) []*item {
	rnk := rank(b.nodes)
	items := make([]*item, len(stems))
	type job struct {
		it *item
		l  *listed
		r  *sigResult
	}
	var jobs []job
	for i, stem := range stems {
		it := &item{stem: stem, t: b.times[stem], listed: b.stems[stem], sigs: map[int64]*sigResult{}}
		it.book = d.cfg.Books.DatedAt(it.t)
		items[i] = it
		for id, l := range it.listed {
			r := &sigResult{}
			it.sigs[id] = r
			jobs = append(jobs, job{it, l, r})
		}
	}
	work := make(chan job)
	var wg sync.WaitGroup
	for range min(d.cfg.Concurrency, len(jobs)) {
		wg.Go(func() {
			for j := range work {
				d.signature(ctx, j.it.book.Book, j.l, j.r)
			}
		})
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	for _, it := range items {
		var ok []consensus.Signed
		for _, r := range it.sigs {
			if r.ok {
				ok = append(ok, r.signed)
			}
		}
		it.groups, it.best = consensus.Decide(ok, it.book.Book, d.cfg.Threshold, rnk)
	}
	return items
}

// signature fetches one signature file and verifies it with the key its
// node has in book.
func (d *Downloader) signature(ctx context.Context, book *recordstream.AddressBook, l *listed, r *sigResult) {
	n, ok := book.NodeByID(l.node.id)
	if !ok {
		r.reason, r.err = "bad_signature", fmt.Errorf("%s: node %s (id %d) is not in the address book in force at %s: %w",
			l.sig.Key, l.node.account, l.node.id, l.sig.Stem, recordstream.ErrBadSignature)
		return
	}
	if tooLarge("signature", l.sigSize) {
		r.reason, r.err = "too_large", fmt.Errorf("%s: listed at %d bytes: %w (signature cap %d bytes): not fetched", l.sig.Key, l.sigSize, fetch.ErrTooLarge, fetch.SignatureMax)
		return
	}
	data, err := d.fetch.Get(ctx, l.sig.Key, "signature")
	switch {
	case errors.Is(err, fetch.ErrTooLarge):
		r.reason, r.err = "too_large", err
		return
	case errors.Is(err, blob.ErrNotFound):
		r.reason, r.err = "not_found", err
		return
	case err != nil:
		r.reason, r.err = "fetch", err
		d.log.Warn("signature file not fetched", zap.String("node", n.Account), zap.String("object", l.sig.Key), zap.Error(err))
		return
	}
	sig, err := recordstream.ParseSignature(l.sig.File, data)
	if err == nil {
		err = book.VerifyByID(n.NodeID, sig)
	}
	if err != nil {
		r.reason, r.err, r.data = "bad_signature", err, data
		return
	}
	r.signed = consensus.Signed{NodeID: n.NodeID, Account: n.Account, Key: l.sig.Key, Sig: sig}
	r.raw = data
	r.ok = true
}

// reportSignatures counts and quarantines the item's signatures that did
// not verify, once per process: the item was decided (written, passed
// over, or the one the stream waits at) with the book in force at its
// time.
func (d *Downloader) reportSignatures(it *item, res *Result) {
	for id, r := range it.sigs {
		res.SigsListed++
		if r.ok {
			res.SigsVerified++
			continue
		}
		l := it.listed[id]
		if len(res.SigErrors) < 3 && r.err != nil {
			res.SigErrors = append(res.SigErrors, fmt.Sprintf("node %s: %v", l.node.account, r.err))
		}
		if r.reason != "bad_signature" && r.reason != "too_large" {
			continue
		}
		key := it.stem + "/" + l.sig.Key
		d.mu.Lock()
		seen := d.reported[key]
		if !seen {
			if len(d.reported) > 100000 {
				d.reported = map[string]bool{}
			}
			d.reported[key] = true
		}
		d.mu.Unlock()
		if seen {
			continue
		}
		d.m.SigFailures.WithLabelValues(l.node.account).Inc()
		if r.reason == "bad_signature" {
			d.quarantine(l.node.account, l.sig.File, l.sig.Key, "bad_signature", r.data, r.err)
		} else {
			d.quarantine(l.node.account, l.sig.File, l.sig.Key, "too_large", nil, r.err)
		}
	}
	if len(it.groups) > 0 {
		res.Agreed++
	} else if res.BestWeighing == "" {
		res.BestWeighing = it.best.String()
	}
}
