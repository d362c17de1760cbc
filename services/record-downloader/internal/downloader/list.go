package downloader

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/services/record-downloader/internal/fetch"
	"tributary.dev/services/record-downloader/internal/names"
)

// listed is one node's objects of one consensus time.
type listed struct {
	node       node
	dir        string // the node's directory the objects are in
	sig        names.Name
	sigSize    int64
	record     string // the record object's key, if listed
	recordSize int64
}

// batch is the signatures listed for one round: per stem, per node id.
type batch struct {
	stems   map[string]map[int64]*listed
	times   map[string]time.Time
	nodes   []node
	horizon time.Time // stems after it wait for the next batch (a node's listing was cut there)
	cut     bool      // some node had more than the batch's signatures
}

func (d *Downloader) list(ctx context.Context, sc *scope) (*batch, error) {
	var afterTime time.Time
	if sc.after != "" {
		t, err := time.Parse("2006-01-02T15_04_05.999999999Z", sc.after)
		if err != nil {
			return nil, fmt.Errorf("position %s: stem %q: %w", sc.posName, sc.after, err)
		}
		afterTime = t
	}
	b := &batch{stems: map[string]map[int64]*listed{}, times: map[string]time.Time{}, nodes: d.nodesFrom(afterTime)}
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		failed []error
	)
	sem := make(chan struct{}, d.cfg.Concurrency)
	for _, n := range b.nodes {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			objs, last, cut, err := d.listNode(ctx, n, sc, afterTime)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				d.m.Errors.WithLabelValues("list").Inc()
				d.log.Warn("listing a node failed; going on with the others", zap.String("node", n.account), zap.Int64("node_id", n.id), zap.Error(err))
				failed = append(failed, err)
				return
			}
			if !last.IsZero() {
				d.m.NodeLast.WithLabelValues(n.account).Set(float64(last.UnixNano()) / 1e9)
			}
			if cut {
				b.cut = true
				if b.horizon.IsZero() || last.Before(b.horizon) {
					b.horizon = last
				}
			}
			for stem, l := range objs {
				if b.stems[stem] == nil {
					b.stems[stem] = map[int64]*listed{}
				}
				b.stems[stem][n.id] = l
				b.times[stem] = l.sig.Time
			}
		})
	}
	wg.Wait()
	if len(b.nodes) > 0 && len(failed) == len(b.nodes) {
		return nil, fmt.Errorf("list: no node could be listed: %w", errors.Join(failed...))
	}
	return b, nil
}

var errStop = errors.New("stop listing")

// listNode lists up to the round's batch of signature files of one node
// after the position, with the record objects beside them, in the
// node's layout (AUTO may list a second time in the node-id layout).
func (d *Downloader) listNode(ctx context.Context, n node, sc *scope, afterTime time.Time) (map[string]*listed, time.Time, bool, error) {
	dir := d.paths.dir(d.cfg.Layout, n)
	objs, last, cut, found, err := d.listDir(ctx, n, dir, sc, afterTime)
	if err != nil {
		return nil, time.Time{}, false, err
	}
	if d.paths.listed(n, found) {
		dir = d.paths.dir(d.cfg.Layout, n)
		d.log.Info("nothing new in the account layout; trying the node-id layout (PATH_TYPE=AUTO)", zap.String("node", n.account), zap.String("dir", dir))
		objs, last, cut, found, err = d.listDir(ctx, n, dir, sc, afterTime)
		if err != nil {
			return nil, time.Time{}, false, err
		}
		d.paths.listed(n, found)
	}
	return objs, last, cut, nil
}

// listDir lists one directory. Sidecars sort after every consensus time
// (s > digits), so the listing stops where they start. found says
// whether anything at all was listed after the position.
func (d *Downloader) listDir(ctx context.Context, n node, dir string, sc *scope, afterTime time.Time) (map[string]*listed, time.Time, bool, bool, error) {
	startAfter := ""
	if sc.after != "" {
		startAfter = dir + sc.after + ".rcd_sig"
	}
	out := map[string]*listed{}
	type rec struct {
		key  string
		size int64
	}
	records := map[string]rec{}
	var last time.Time
	sigs, cut, found := 0, false, false
	err := d.store.List(ctx, dir+sc.marker, startAfter, func(o blob.Object) error {
		if len(o.Key) >= len(dir)+8 && o.Key[len(dir):len(dir)+8] == "sidecar/" {
			return errStop
		}
		found = true
		nm, err := d.cfg.Layout.Parse(o.Key)
		if err != nil {
			d.refuseName(o.Key, err)
			return nil
		}
		if d.cfg.Layout.Dir(nm) != dir || !nm.Time.After(afterTime) {
			return nil
		}
		switch nm.Kind {
		case names.Record:
			records[nm.Stem] = rec{nm.Key, o.Size}
		case names.Signature:
			if sigs == sc.batch {
				cut = true
				return errStop
			}
			sigs++
			out[nm.Stem] = &listed{node: n, dir: dir, sig: nm, sigSize: o.Size}
			if nm.Time.After(last) {
				last = nm.Time
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, time.Time{}, false, false, err
	}
	for stem, l := range out {
		l.record, l.recordSize = records[stem].key, records[stem].size
	}
	return out, last, cut, found, nil
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

// tooLarge says whether a listed size is over the kind's cap: such an
// object is refused without a GET.
func tooLarge(kind string, size int64) bool { return size > fetch.Limit(kind) }
