package parser

import (
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/recordstream"
	"tributary.dev/services/record-parser/internal/blockdoc"
	"tributary.dev/services/record-parser/internal/intake"
	"tributary.dev/services/record-parser/internal/state"
	"tributary.dev/services/record-parser/internal/txdoc"
)

// blockVersion is the format version of a block in the state and the
// parsed events, as the mirror node numbers it (BlockFile.VERSION): after
// record files' 2, 5 and 6.
const blockVersion = 7

// blockWork is what decoding a block reuses from one block to the next:
// the decompressed bytes, the converter's arena and the items (all dead
// once the documents are encoded).
type blockWork struct {
	plain []byte
	conv  *blockdoc.Converter
	items []recordstream.Item
}

// blockReason names a blockstream error for the quarantine and the metric.
func blockReason(err error) string {
	switch {
	case errors.Is(err, blockstream.ErrTruncated):
		return "truncated"
	case errors.Is(err, blockstream.ErrTooLarge):
		return "too_large"
	case errors.Is(err, blockstream.ErrUnsupported):
		return "unsupported_version"
	case errors.Is(err, blockstream.ErrMisnamed):
		return "misnamed"
	case errors.Is(err, blockstream.ErrHashMismatch):
		return "hash_mismatch"
	case errors.Is(err, blockstream.ErrProof):
		return "bad_proof"
	case errors.Is(err, recordstream.ErrHashMismatch):
		return "hash_mismatch"
	default:
		return "malformed"
	}
}

// decodeBlock reads job's block: decompressed, split into items and
// checked against itself (blockstream), its root hash computed by the
// algorithm its version calls for, its day and the root hash the
// downloader verified checked, and its transactions encoded (a wrapped
// record block's as its record file's).
func (p *Parser) decodeBlock(job intake.Job) (*decoded, []byte, error) {
	start := time.Now()
	data, err := readFile(filepath.Join(p.cfg.RecordDir, job.Day, job.Name), p.blocks.Limits().MaxBytes)
	if errors.Is(err, errTooLarge) {
		return nil, nil, &refusal{"too_large", fmt.Errorf("%s: %w", job.Rel(), err)}
	}
	if err != nil {
		return nil, nil, &transient{"read", fmt.Errorf("read %s: %w", job.Rel(), err)}
	}
	w, _ := p.blockWork.Get().(*blockWork)
	if w == nil {
		w = &blockWork{conv: blockdoc.NewConverter()}
	}
	defer p.blockWork.Put(w)
	w.plain, err = p.blocks.Decompress(job.Name, data, w.plain)
	if err != nil {
		return nil, data, &refusal{blockReason(err), fmt.Errorf("%s: %w", job.Rel(), err)}
	}
	b, err := p.blocks.ParsePlain(job.Name, w.plain)
	if err != nil {
		return nil, data, &refusal{blockReason(err), fmt.Errorf("%s: %w", job.Rel(), err)}
	}
	if day := b.Header.Time().Format(time.DateOnly); day != job.Day {
		return nil, data, &refusal{"misnamed", fmt.Errorf("%s: block %d has block time %s: it belongs in day directory %s: %w",
			job.Rel(), b.Number(), b.Header.Time().Format(time.RFC3339Nano), day, blockstream.ErrMisnamed)}
	}
	root, alg, err := b.RootHash()
	if err != nil {
		return nil, data, &refusal{blockReason(err), fmt.Errorf("%s: root hash: %w", job.Rel(), err)}
	}
	if job.FileHash != "" && hex.EncodeToString(root[:]) != job.FileHash {
		return nil, data, &refusal{"hash_mismatch", fmt.Errorf("%s: root hash %x, the downloader verified %s: the file changed on disk: %w",
			job.Rel(), root, job.FileHash, blockstream.ErrHashMismatch)}
	}
	number := int64(b.Number())
	if b.Wrapped {
		d, err := p.decodeWrapped(job, b, root[:], alg)
		if err != nil {
			return nil, data, err
		}
		p.m.Parse.Observe(time.Since(start).Seconds())
		return d, data, nil
	}
	var sum blockdoc.Summary
	w.items, sum, err = w.conv.Convert(b, w.items[:0])
	if err != nil {
		return nil, data, &refusal{"malformed", fmt.Errorf("%s (block %d): %w", job.Rel(), number, err)}
	}
	d := &decoded{job: job, sum: summary{
		kind: state.KindBlock, version: blockVersion, start: sum.ConsensusStart, end: sum.ConsensusEnd, count: sum.Count,
		fileHash: root[:], prevHash: b.Footer.PreviousRootHash, chainHash: root[:], rootHash: root[:], algorithm: alg.String(),
		number: &number, hapi: fmt.Sprintf("%d.%d.%d", b.Header.HAPI.Major, b.Header.HAPI.Minor, b.Header.HAPI.Patch),
		name: job.Name, size: b.Size, blockTime: b.Header.TimestampNs,
	}}
	if sum.OutOfOrder {
		p.m.OutOfOrder.Inc()
		p.log.Warn("block's transactions are not in consensus order; its range is their least and greatest time",
			zap.String("file", job.Rel()), zap.Int64("block", number))
	}
	src := txdoc.Source{File: job.Name, BlockNumber: number, HasBlock: true}
	p.encode(d, src, w.items, w.conv.Sidecars(), len(data))
	p.m.Parse.Observe(time.Since(start).Seconds())
	return d, data, nil
}
