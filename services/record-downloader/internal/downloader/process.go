package downloader

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

	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/faults"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/runner"
	"tributary.dev/services/record-downloader/internal/announce"
	"tributary.dev/services/record-downloader/internal/consensus"
	"tributary.dev/services/record-downloader/internal/names"
	"tributary.dev/services/record-downloader/internal/state"
)

// item is one consensus time the nodes agreed on.
type item struct {
	stem     string
	t        time.Time
	group    consensus.Group
	listed   map[string]*listed
	sigBytes map[string][]byte // node -> its signature file as stored
}

// done is an item written: what to announce.
type done struct {
	events  []announce.Event
	present bool // found in the local directory, not fetched
	// prev is the hash the file starts from, chain the one it ends with.
	prev, chain []byte
	// dirs are the directories written into, synced before the commit.
	dirs []string
}

// sigResult is one node's signature file of one stem.
type sigResult struct {
	signed consensus.Signed
	raw    []byte
	ok     bool // read and verified
	unsure bool // could not be fetched: the node may yet agree
}

// batch verifies the batch's signatures, decides each consensus time in
// order and writes and announces the agreed files. more says whether the
// listing has more to give right away.
func (d *Downloader) batch(ctx context.Context, sc *scope, b *batch, res *Result) (more bool, err error) {
	stems := b.sortedStems()
	if len(stems) == 0 {
		return false, nil
	}
	sigs := d.signatures(ctx, b, stems)
	last := -1
	decided := make([]consensus.Group, len(stems))
	agreed := make([]bool, len(stems))
	unsure := make([]bool, len(stems))
	for i, stem := range stems {
		var ok []consensus.Signed
		for _, node := range d.cfg.Nodes {
			r := sigs[stem][node]
			if r == nil {
				continue
			}
			if r.ok {
				ok = append(ok, r.signed)
			}
			unsure[i] = unsure[i] || r.unsure
		}
		decided[i], agreed[i] = consensus.Decide(ok, d.required, d.cfg.Nodes)
		if agreed[i] {
			last = i
		}
	}
	var items []item
	waiting := false
	for i, stem := range stems {
		if agreed[i] {
			raw := map[string][]byte{}
			for node, r := range sigs[stem] {
				raw[node] = r.raw
			}
			items = append(items, item{stem: stem, t: b.times[stem], group: decided[i], listed: b.stems[stem], sigBytes: raw})
			continue
		}
		if i < last && !b.failed && !unsure[i] {
			// Later files are agreed and every node answered: this one
			// is not part of the stream the network signed, as the
			// mirror node judges it; the position moves past it.
			d.m.ConsensusFail.Inc()
			res.Skipped++
			d.log.Warn("consensus not reached; later files were, so this one is skipped",
				zap.String("consensus_time", stem), zap.Int("required", d.required), zap.Int("signed", len(sigs[stem])))
			continue
		}
		// The newest files wait for more nodes to sign (or to be
		// reachable again).
		waiting = true
		d.log.Debug("waiting for signatures", zap.String("consensus_time", stem), zap.Int("required", d.required))
		break
	}
	if err := d.writeInOrder(ctx, sc, items, res); err != nil {
		return false, err
	}
	return b.cut && !waiting && !runner.Stopping(ctx), nil
}

// signatures fetches and verifies every listed signature file of stems,
// CONCURRENCY at a time. A signature that does not read or verify is
// counted for its node and quarantined.
func (d *Downloader) signatures(ctx context.Context, b *batch, stems []string) map[string]map[string]*sigResult {
	out := make(map[string]map[string]*sigResult, len(stems))
	type job struct {
		stem, node string
		l          *listed
		r          *sigResult
	}
	var jobs []job
	for _, stem := range stems {
		out[stem] = map[string]*sigResult{}
		for node, l := range b.stems[stem] {
			r := &sigResult{}
			out[stem][node] = r
			jobs = append(jobs, job{stem, node, l, r})
		}
	}
	work := make(chan job)
	var wg sync.WaitGroup
	for range min(d.cfg.Concurrency, len(jobs)) {
		wg.Go(func() {
			for j := range work {
				d.signature(ctx, j.node, j.l.sig, j.r)
			}
		})
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	return out
}

func (d *Downloader) signature(ctx context.Context, node string, n names.Name, r *sigResult) {
	data, err := d.fetch.Get(ctx, n.Key, "signature")
	if err != nil {
		r.unsure = !errors.Is(err, blob.ErrNotFound)
		d.log.Warn("signature file not fetched", zap.String("node", node), zap.String("object", n.Key), zap.Error(err))
		return
	}
	sig, err := recordstream.ParseSignature(n.File, data)
	if err == nil {
		err = d.cfg.Book.Verify(node, sig)
	}
	if err != nil {
		d.m.SigFailures.WithLabelValues(node).Inc()
		d.quarantine(node, n.File, n.Key, "bad_signature", data, err)
		return
	}
	r.signed = consensus.Signed{Node: node, Key: n.Key, Sig: sig}
	r.raw = data
	r.ok = true
}

// writeInOrder downloads and writes the items CONCURRENCY at a time, and
// announces them and moves the position strictly in consensus order: a
// file is announced only when every earlier one was, and the position
// passes it only after its announcement is stored.
func (d *Downloader) writeInOrder(ctx context.Context, sc *scope, items []item, res *Result) error {
	if len(items) == 0 {
		return nil
	}
	wctx, cancel := context.WithCancel(ctx)
	type outcome struct {
		done *done
		err  error
	}
	results := make([]chan outcome, len(items))
	// CONCURRENCY downloads at a time; a file being written (synced) no
	// longer holds a download slot, so disk waits do not idle the network.
	// inflight bounds the files held in memory, downloading or writing.
	sem := make(chan struct{}, d.cfg.Concurrency)
	inflight := make(chan struct{}, 3*d.cfg.Concurrency)
	acquire := func(c chan struct{}) bool {
		select {
		case c <- struct{}{}:
			return true
		case <-wctx.Done():
			return false
		}
	}
	var wg sync.WaitGroup
	// On an early return the files not started are not started: cancel
	// first, then wait for those in flight.
	defer func() { cancel(); wg.Wait() }()
	for i := range items {
		results[i] = make(chan outcome, 1)
		wg.Go(func() {
			if !acquire(inflight) {
				results[i] <- outcome{err: wctx.Err()}
				return
			}
			defer func() { <-inflight }()
			if !acquire(sem) {
				results[i] <- outcome{err: wctx.Err()}
				return
			}
			var once sync.Once
			release := func() { once.Do(func() { <-sem }) }
			defer release()
			if runner.Stopping(ctx) {
				results[i] <- outcome{err: errStopping}
				return
			}
			w, err := d.process(wctx, sc, &items[i], release)
			results[i] <- outcome{w, err}
		})
	}
	// Group commit: the files already done when one is awaited go out
	// with it, one publish round trip and one position save for all.
	for i := 0; i < len(items); {
		var group []int
		var dones []*done
		stopping := false
	collect:
		for j := i; j < len(items) && len(group) < maxGroup; j++ {
			var o outcome
			if j == i {
				o = <-results[j]
			} else {
				select {
				case o = <-results[j]:
				default:
					break collect // not ready: commit what is
				}
			}
			if errors.Is(o.err, errStopping) {
				// Asked to stop: what is done is committed, the rest
				// waits for the next start.
				stopping = true
				break
			}
			if o.err != nil {
				if err := d.commit(ctx, sc, items, group, dones, res); err != nil {
					return err
				}
				return o.err
			}
			group, dones = append(group, j), append(dones, o.done)
		}
		if err := d.commit(ctx, sc, items, group, dones, res); err != nil {
			return err
		}
		if stopping || len(group) == 0 {
			return nil
		}
		i = group[len(group)-1] + 1
	}
	return nil
}

// maxGroup bounds the files one commit covers.
const maxGroup = 64

var errStopping = errors.New("stopping")

// commit announces a run of written items (consecutive, in consensus
// order) and saves the position after the last.
func (d *Downloader) commit(ctx context.Context, sc *scope, items []item, group []int, dones []*done, res *Result) error {
	if len(group) == 0 {
		return nil
	}
	// The names must be durable before they are announced: one sync per
	// directory for the whole group.
	var events []announce.Event
	var dirs []string
	for _, w := range dones {
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
			return fmt.Errorf("announce %s…%s: %w", items[group[0]].stem, items[group[len(group)-1]].stem, err)
		}
		d.m.Announced.Add(float64(len(events)))
		res.Announced += len(events)
	}
	for k, i := range group {
		it, w := &items[i], dones[k]
		if sc.chain != nil && !bytes.Equal(w.prev, sc.chain) {
			res.ChainBreaks++
			d.log.Error("chain broken: the file does not continue the previous one (written and announced anyway: the nodes signed it)",
				zap.String("consensus_time", it.stem), zap.String("previous", sc.prevStem),
				zap.String("starts_from", hex.EncodeToString(w.prev)), zap.String("previous_ends_with", hex.EncodeToString(sc.chain)))
		}
		sc.after, sc.prevStem, sc.chain = it.stem, it.stem, w.chain
		if w.present {
			res.Present++
		} else {
			res.Files++
		}
		res.Last = it.stem
	}
	faults.Point("after-publish")
	last := &items[group[len(group)-1]]
	pos := state.Position{Stem: last.stem, Time: last.t, Hash: last.group.HashHex(), Chain: hex.EncodeToString(sc.chain)}
	if err := d.state.Save(sc.posName, pos); err != nil {
		d.m.Errors.WithLabelValues("state").Inc()
		return err
	}
	if !sc.backfill {
		d.m.verified(last.t)
	}
	if d.Beat != nil {
		d.Beat()
	}
	return nil
}

// file is one object chosen for writing.
type file struct {
	node, key, rel, kind string
	data                 []byte
}

// process fetches, checks and writes one agreed item: the record file
// from the first signer whose copy has the agreed hash, its sidecars,
// and that node's signature file. fetched is called once the downloads
// are over, before the writes.
func (d *Downloader) process(ctx context.Context, sc *scope, it *item, fetched func()) (*done, error) {
	day := names.Day(it.t)
	if sc.backfill {
		if w, ok := d.local(it, day); ok {
			return w, nil
		}
	}
	var errs []error
	for _, s := range it.group.Nodes {
		rec, rf, err := d.record(ctx, it, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files := []file{}
		for _, meta := range rf.Sidecars {
			f, err := d.sidecar(ctx, it, s.Node, day, meta)
			if err != nil {
				return nil, err
			}
			files = append(files, f)
		}
		sigName := it.stem + ".rcd_sig"
		files = append(files, file{node: s.Node, key: it.listed[s.Node].sig.Key, rel: day + "/" + sigName, kind: "signature", data: it.sigBytes[s.Node]})
		files = append(files, rec)
		fetched()
		w, err := d.write(it, files)
		if err != nil {
			return nil, err
		}
		w.prev, w.chain = rf.PrevHash, rf.ChainHash()
		return w, nil
	}
	return nil, fmt.Errorf("consensus time %s (hash %s signed by %v): no signer's record file could be used: %w",
		it.stem, it.group.HashHex(), it.group.Signers(), errors.Join(errs...))
}

// record fetches node s's record file of the item and checks it is the
// agreed one; a copy that is not is quarantined.
func (d *Downloader) record(ctx context.Context, it *item, s consensus.Signed) (file, *recordstream.RecordFile, error) {
	dir := names.NodeDir(d.cfg.Prefix, s.Node)
	var keys []string
	if k := it.listed[s.Node].record; k != "" {
		keys = []string{k}
	} else if s.Sig.Version >= 6 {
		keys = []string{dir + it.stem + ".rcd.gz", dir + it.stem + ".rcd"}
	} else {
		keys = []string{dir + it.stem + ".rcd", dir + it.stem + ".rcd.gz"}
	}
	var err error
	for _, key := range keys {
		n, perr := names.Parse(d.cfg.Prefix, key)
		if perr != nil {
			return file{}, nil, perr
		}
		var data []byte
		data, err = d.fetch.Get(ctx, key, "record")
		if errors.Is(err, blob.ErrNotFound) {
			continue
		}
		if err != nil {
			return file{}, nil, err
		}
		rf, err := recordstream.Parse(n.File, data)
		if err == nil {
			err = rf.Matches(s.Sig)
		}
		if err != nil {
			d.quarantine(s.Node, n.File, key, reasonOf(err), data, err)
			return file{}, nil, err
		}
		return file{node: s.Node, key: key, rel: names.Day(it.t) + "/" + n.File, kind: "record", data: data}, rf, nil
	}
	return file{}, nil, fmt.Errorf("node %s has no record file for %s: %w", s.Node, it.stem, err)
}

// sidecar fetches one sidecar the record file lists, from first and then
// the other signers, and checks its hash.
func (d *Downloader) sidecar(ctx context.Context, it *item, first, day string, meta recordstream.SidecarMeta) (file, error) {
	order := []string{first}
	for _, s := range it.group.Nodes {
		if s.Node != first {
			order = append(order, s.Node)
		}
	}
	var errs []error
	for _, node := range order {
		key := names.NodeDir(d.cfg.Prefix, node) + "sidecar/" + meta.Name
		n, err := names.Parse(d.cfg.Prefix, key)
		if err != nil || n.Kind != names.Sidecar || n.Stem != it.stem {
			// The name comes from a verified record file; refuse it
			// anyway rather than build a path from it.
			return file{}, fmt.Errorf("record file %s lists sidecar %q: %w", it.stem, meta.Name, err)
		}
		data, err := d.fetch.Get(ctx, key, "sidecar")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sc, err := recordstream.ParseSidecar(n.File, data)
		if err == nil {
			err = meta.Check(sc)
		}
		if err != nil {
			d.quarantine(node, "sidecar_"+n.File, key, reasonOf(err), data, err)
			errs = append(errs, err)
			continue
		}
		return file{node: node, key: key, rel: day + "/sidecar/" + n.File, kind: "sidecar", data: data}, nil
	}
	return file{}, fmt.Errorf("sidecar %s of %s: no signer's copy could be used: %w", meta.Name, it.stem, errors.Join(errs...))
}

// write puts the files in place, the record file last (the parser looks
// for record files; its sidecars and signature are there before it), and
// returns their events.
func (d *Downloader) write(it *item, files []file) (*done, error) {
	w := &done{}
	for _, f := range files {
		dir, err := d.writeFile(f)
		if err != nil {
			d.m.Errors.WithLabelValues("write").Inc()
			return nil, err
		}
		if !slices.Contains(w.dirs, dir) {
			w.dirs = append(w.dirs, dir)
		}
		w.events = append(w.events, d.event(it, f))
	}
	for _, f := range files {
		d.m.Files.WithLabelValues(f.kind, f.node).Inc()
		d.m.Bytes.WithLabelValues(f.kind).Add(float64(len(f.data)))
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

func (d *Downloader) event(it *item, f file) announce.Event {
	sum := sha512.Sum384(f.data)
	signers := make([]string, len(it.group.Nodes))
	for i, s := range it.group.Nodes {
		signers[i] = announce.NodeNumber(s.Node)
	}
	return announce.Event{
		Node: announce.NodeNumber(f.node), Bucket: d.store.Bucket(), Object: f.key, Path: f.rel, Kind: f.kind,
		Size: int64(len(f.data)), SHA384: hex.EncodeToString(sum[:]), ConsensusStart: announce.ConsensusStart(it.t),
		FileHash: it.group.HashHex(), Signers: signers,
	}
}

// local finds an item a backfill already has: its record file in the day
// directory with the agreed hash, one signer's signature file beside it
// and every sidecar it lists with its hash. Then nothing is fetched; the
// events are sent again (the stream drops them if it has them), because a
// crash may have come between writing and announcing.
func (d *Downloader) local(it *item, day string) (*done, bool) {
	sigRel := day + "/" + it.stem + ".rcd_sig"
	sig, err := d.sink.ReadFile(sigRel)
	if err != nil {
		return nil, false
	}
	var node string
	var signed *recordstream.Signature
	for _, s := range it.group.Nodes {
		if bytes.Equal(it.sigBytes[s.Node], sig) {
			node, signed = s.Node, s.Sig
		}
	}
	if node == "" {
		return nil, false
	}
	for _, ext := range []string{".rcd.gz", ".rcd"} {
		rel := day + "/" + it.stem + ext
		data, err := d.sink.ReadFile(rel)
		if err != nil {
			continue
		}
		rf, err := recordstream.Parse(it.stem+ext, data)
		if err != nil || rf.Matches(signed) != nil {
			return nil, false
		}
		dir := names.NodeDir(d.cfg.Prefix, node)
		files := []file{}
		for _, meta := range rf.Sidecars {
			srel := day + "/sidecar/" + meta.Name
			sdata, err := d.sink.ReadFile(srel)
			if err != nil {
				return nil, false
			}
			sc, err := recordstream.ParseSidecar(meta.Name, sdata)
			if err != nil || meta.Check(sc) != nil {
				return nil, false
			}
			files = append(files, file{node: node, key: dir + "sidecar/" + meta.Name, rel: srel, kind: "sidecar", data: sdata})
		}
		files = append(files, file{node: node, key: it.listed[node].sig.Key, rel: sigRel, kind: "signature", data: sig},
			file{node: node, key: dir + it.stem + ext, rel: rel, kind: "record", data: data})
		w := &done{present: true, prev: rf.PrevHash, chain: rf.ChainHash()}
		for _, f := range files {
			w.events = append(w.events, d.event(it, f))
		}
		return w, true
	}
	return nil, false
}

// quarantine keeps a refused object with its reason, and counts it.
func (d *Downloader) quarantine(node, fileName, key, reason string, data []byte, cause error) {
	d.m.Quarantined.WithLabelValues(reason).Inc()
	rel, err := d.sink.Quarantine(node, fileName, key, reason, data, cause)
	if err != nil {
		d.m.Errors.WithLabelValues("write").Inc()
		d.log.Error("quarantine failed", zap.String("object", key), zap.Error(err))
		return
	}
	d.log.Warn("file quarantined", zap.String("node", node), zap.String("object", key), zap.String("reason", reason),
		zap.String("kept", rel), zap.Error(cause))
}

// reasonOf is the quarantine reason of a refused file.
func reasonOf(err error) string {
	var fe *recordstream.FormatError
	gz := errors.As(err, &fe) && (strings.HasPrefix(fe.What, "gzip") || strings.HasPrefix(fe.What, "gunzip"))
	switch {
	case errors.Is(err, recordstream.ErrTruncated):
		return "truncated"
	case gz:
		return "bad_gzip"
	case errors.Is(err, recordstream.ErrBadSignature):
		return "bad_signature"
	default:
		return "hash_mismatch"
	}
}
