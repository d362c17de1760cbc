package downloader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/recordstream"
	"tributary.dev/services/record-downloader/internal/consensus"
	"tributary.dev/services/record-downloader/internal/fetch"
	"tributary.dev/services/record-downloader/internal/names"
)

// file is one object chosen for writing.
type file struct {
	node     node
	key, rel string
	kind     string
	data     []byte
}

// fileCopy is one signer's copy of an agreed file: the record file read
// and checked against the agreed hash, its sidecars, that signer's
// signature file, and the address-book updates it carries.
type fileCopy struct {
	signer  consensus.Signed
	node    node
	rf      *recordstream.RecordFile
	files   []file // sidecars, signature, record last
	ops     []recordstream.BookFileOp
	present bool // found in the local directory (backfill), not fetched
	err     error
}

// fetchCopy gets the group's file from the first of its signers whose
// copy has the agreed hash (a copy that has not is quarantined), with
// its sidecars. A backfill first looks in the local directory.
func (d *Downloader) fetchCopy(ctx context.Context, sc *scope, it *item, g consensus.Group) *fileCopy {
	if sc.backfill {
		if c := d.localCopy(it, g); c != nil {
			return c
		}
	}
	day := names.Day(it.t)
	var errs []error
	for _, s := range g.Nodes {
		l := it.listed[s.NodeID]
		rec, rf, err := d.record(ctx, it, l, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c := &fileCopy{signer: s, node: l.node, rf: rf}
		for _, meta := range rf.Sidecars {
			f, err := d.sidecar(ctx, it, g, l.node.id, day, meta)
			if err != nil {
				return &fileCopy{err: err}
			}
			c.files = append(c.files, f)
		}
		c.files = append(c.files, file{node: l.node, key: l.sig.Key, rel: day + "/" + it.stem + ".rcd_sig", kind: "signature", data: it.sigs[s.NodeID].raw})
		c.files = append(c.files, rec)
		if c.ops, err = recordstream.BookFileOps(rf, d.cfg.Layout.Shard, d.cfg.Realm); err != nil {
			// The network signed this file: an address-book update in
			// it that does not decode is ours to fix, not to skip.
			return &fileCopy{err: fmt.Errorf("consensus time %s: address-book update: %w", it.stem, err)}
		}
		return c
	}
	return &fileCopy{err: fmt.Errorf("consensus time %s (hash %s signed by %v): no signer's record file could be used: %w",
		it.stem, g.HashHex(), g.Signers(), errors.Join(errs...))}
}

// record fetches signer s's record file of the item and checks it is the
// agreed one; a copy that is not is quarantined.
func (d *Downloader) record(ctx context.Context, it *item, l *listed, s consensus.Signed) (file, *recordstream.RecordFile, error) {
	var keys []string
	switch {
	case l.record != "":
		keys = []string{l.record}
	case s.Sig.Version >= 6:
		keys = []string{l.dir + it.stem + ".rcd.gz", l.dir + it.stem + ".rcd"}
	default:
		keys = []string{l.dir + it.stem + ".rcd", l.dir + it.stem + ".rcd.gz"}
	}
	if l.record != "" && tooLarge("record", l.recordSize) {
		err := fmt.Errorf("%s: listed at %d bytes: %w (record cap %d bytes): not fetched", l.record, l.recordSize, fetch.ErrTooLarge, int64(fetch.FileMax))
		d.quarantine(l.node.account, it.stem+".rcd", l.record, "too_large", nil, err)
		return file{}, nil, err
	}
	var err error
	for _, key := range keys {
		n, perr := d.cfg.Layout.Parse(key)
		if perr != nil {
			return file{}, nil, perr
		}
		var data []byte
		data, err = d.fetch.Get(ctx, key, "record")
		if errors.Is(err, blob.ErrNotFound) {
			continue
		}
		if errors.Is(err, fetch.ErrTooLarge) {
			d.quarantine(l.node.account, n.File, key, "too_large", nil, err)
			return file{}, nil, err
		}
		if err != nil {
			return file{}, nil, err
		}
		rf, err := recordstream.Parse(n.File, data)
		if err == nil {
			err = rf.Matches(s.Sig)
		}
		if err != nil {
			d.quarantine(l.node.account, n.File, key, reasonOf(err), data, err)
			return file{}, nil, err
		}
		return file{node: l.node, key: key, rel: names.Day(it.t) + "/" + n.File, kind: "record", data: data}, rf, nil
	}
	return file{}, nil, fmt.Errorf("node %s has no record file for %s: %w", l.node.account, it.stem, err)
}

// sidecar fetches one sidecar the record file lists, from first and then
// the group's other signers, and checks its hash.
func (d *Downloader) sidecar(ctx context.Context, it *item, g consensus.Group, first int64, day string, meta recordstream.SidecarMeta) (file, error) {
	order := []int64{first}
	for _, s := range g.Nodes {
		if s.NodeID != first {
			order = append(order, s.NodeID)
		}
	}
	var errs []error
	for _, id := range order {
		l := it.listed[id]
		key := l.dir + "sidecar/" + meta.Name
		n, err := d.cfg.Layout.Parse(key)
		if err != nil || n.Kind != names.Sidecar || n.Stem != it.stem {
			// The name comes from a verified record file; refuse it
			// anyway rather than build a path from it.
			return file{}, fmt.Errorf("record file %s lists sidecar %q: %w", it.stem, meta.Name, err)
		}
		data, err := d.fetch.Get(ctx, key, "sidecar")
		if err != nil {
			if errors.Is(err, fetch.ErrTooLarge) {
				d.quarantine(l.node.account, "sidecar_"+n.File, key, "too_large", nil, err)
			}
			errs = append(errs, err)
			continue
		}
		sc, err := recordstream.ParseSidecar(n.File, data)
		if err == nil {
			err = meta.Check(sc)
		}
		if err != nil {
			d.quarantine(l.node.account, "sidecar_"+n.File, key, reasonOf(err), data, err)
			errs = append(errs, err)
			continue
		}
		return file{node: l.node, key: key, rel: day + "/sidecar/" + n.File, kind: "sidecar", data: data}, nil
	}
	return file{}, fmt.Errorf("sidecar %s of %s: no signer's copy could be used: %w", meta.Name, it.stem, errors.Join(errs...))
}

// localCopy finds a file a backfill already has: its record file in the
// day directory with the group's hash, a signer's signature file beside
// it and every sidecar it lists with its hash. Then nothing is fetched;
// the events are sent again (the stream drops them if it has them),
// because a crash may have come between writing and announcing.
func (d *Downloader) localCopy(it *item, g consensus.Group) *fileCopy {
	day := names.Day(it.t)
	sigRel := day + "/" + it.stem + ".rcd_sig"
	sig, err := d.sink.ReadFile(sigRel)
	if err != nil {
		return nil
	}
	var signer *consensus.Signed
	for i, s := range g.Nodes {
		if bytes.Equal(it.sigs[s.NodeID].raw, sig) {
			signer = &g.Nodes[i]
		}
	}
	if signer == nil {
		return nil
	}
	l := it.listed[signer.NodeID]
	for _, ext := range []string{".rcd.gz", ".rcd"} {
		rel := day + "/" + it.stem + ext
		data, err := d.sink.ReadFile(rel)
		if err != nil {
			continue
		}
		rf, err := recordstream.Parse(it.stem+ext, data)
		if err != nil || rf.Matches(signer.Sig) != nil {
			return nil
		}
		c := &fileCopy{signer: *signer, node: l.node, rf: rf, present: true}
		for _, meta := range rf.Sidecars {
			srel := day + "/sidecar/" + meta.Name
			sdata, err := d.sink.ReadFile(srel)
			if err != nil {
				return nil
			}
			sc, err := recordstream.ParseSidecar(meta.Name, sdata)
			if err != nil || meta.Check(sc) != nil {
				return nil
			}
			c.files = append(c.files, file{node: l.node, key: l.dir + "sidecar/" + meta.Name, rel: srel, kind: "sidecar", data: sdata})
		}
		c.files = append(c.files, file{node: l.node, key: l.sig.Key, rel: sigRel, kind: "signature", data: sig},
			file{node: l.node, key: l.dir + it.stem + ext, rel: rel, kind: "record", data: data})
		if c.ops, err = recordstream.BookFileOps(rf, d.cfg.Layout.Shard, d.cfg.Realm); err != nil {
			return &fileCopy{err: fmt.Errorf("consensus time %s: address-book update: %w", it.stem, err)}
		}
		return c
	}
	return nil
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
