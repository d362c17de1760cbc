package parser

import (
	"fmt"
	"strings"

	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protowire"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
	"tributary.dev/services/record-parser/internal/intake"
	"tributary.dev/services/record-parser/internal/state"
	"tributary.dev/services/record-parser/internal/txdoc"
)

// decodeWrapped reads a wrapped record block as the record file it
// carries, as the mirror node does: the record file rebuilt in the layout
// its node wrote and read back by recordstream (hashes recomputed), its
// sidecars from the block (checked against the hashes the file lists), its
// items amended by the block's amendments. Its documents are the record
// file's; its block number and root hash are the block's.
func (p *Parser) decodeWrapped(job intake.Job, b *blockstream.Block, root []byte, alg blockstream.Algorithm) (*decoded, error) {
	wf, err := blockstream.RebuildRecordFile(b)
	if err != nil {
		return nil, &refusal{blockReason(err), fmt.Errorf("%s: %w", job.Rel(), err)}
	}
	f := wf.File
	var side map[int64][]*hederapb.TransactionSidecarRecord
	if len(f.Sidecars) > 0 {
		var all []*hederapb.TransactionSidecarRecord
		for _, meta := range f.Sidecars {
			raw, ok := wf.Sidecars[meta.ID]
			if !ok {
				continue
			}
			// The block carries the sidecar's bytes as they are, not
			// gzipped as the bucket's sidecar files are.
			sc, err := recordstream.ParseSidecar(strings.TrimSuffix(meta.Name, ".gz"), raw)
			if err != nil {
				return nil, &refusal{"sidecar_malformed", fmt.Errorf("%s: sidecar %d: %w", job.Rel(), meta.ID, err)}
			}
			all = append(all, sc.Records...)
		}
		side = txdoc.SidecarsByConsensus(all)
	}
	if len(wf.MissingSidecars) > 0 {
		// The mirror node reads such blocks and logs the loss: the
		// documents go without those contract details.
		p.m.MissingSidecars.Add(float64(len(wf.MissingSidecars)))
		p.log.Warn("wrapped record block without the contents of sidecars its record file lists: their contract details are missing from the documents",
			zap.String("file", job.Rel()), zap.Int64("block", int64(b.Number())), zap.Any("sidecars", wf.MissingSidecars))
	}
	items, err := amend(f.Items, wf.Amendments)
	if err != nil {
		return nil, &refusal{"malformed", fmt.Errorf("%s: amendments: %w", job.Rel(), err)}
	}
	number := int64(b.Number())
	sum := recordSummary(state.KindWrapped, wf.File.Name, f)
	sum.rootHash, sum.algorithm, sum.number, sum.blockTime = root, alg.String(), &number, b.Header.TimestampNs
	sum.size, sum.count = int64(len(wf.Bytes)), len(items)
	d := &decoded{job: job, file: f, sidecars: len(wf.Sidecars), sum: sum}
	// The documents name the record file the block carries, as they would
	// had it come from the record stream.
	src := txdoc.Source{File: wf.File.Name, BlockNumber: number, HasBlock: f.Version == 6}
	p.encode(d, src, items, side, len(wf.Bytes))
	return d, nil
}

// amend merges a wrapped record file's amendments into its items by
// consensus time, as the mirror node does: an amendment of an item's time
// replaces it, one of another time is added in its place.
func amend(items, amendments []recordstream.Item) ([]recordstream.Item, error) {
	if len(amendments) == 0 {
		return items, nil
	}
	for i := range amendments {
		ns, err := recordTime(amendments[i].Record)
		if err != nil {
			return nil, fmt.Errorf("amendment %d: %w", i, err)
		}
		amendments[i].ConsensusNs = ns
	}
	out := make([]recordstream.Item, 0, len(items)+len(amendments))
	a := 0
	for _, it := range items {
		for a < len(amendments) && amendments[a].ConsensusNs < it.ConsensusNs {
			out = append(out, amendments[a])
			a++
		}
		if a < len(amendments) && amendments[a].ConsensusNs == it.ConsensusNs {
			out = append(out, amendments[a])
			a++
			continue
		}
		out = append(out, it)
	}
	return append(out, amendments[a:]...), nil
}

// recordTime is a TransactionRecord's consensusTimestamp (3) in ns.
func recordTime(rec []byte) (int64, error) {
	var ts []byte
	for b := rec; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return 0, protowire.ParseError(m)
		}
		if num == 3 && typ == protowire.BytesType {
			ts, _ = protowire.ConsumeBytes(b)
		}
		b = b[m:]
	}
	var sec, nanos int64
	for b := ts; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.VarintType {
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return 0, protowire.ParseError(m)
			}
			b = b[m:]
			continue
		}
		v, m := protowire.ConsumeVarint(b)
		if m < 0 {
			return 0, protowire.ParseError(m)
		}
		b = b[m:]
		switch num {
		case 1:
			sec = int64(v)
		case 2:
			nanos = int64(int32(v))
		}
	}
	return sec*1e9 + nanos, nil
}
