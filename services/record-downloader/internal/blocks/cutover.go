package blocks

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/blockstream"
	"tributary.dev/services/record-downloader/internal/blocksrc"
	"tributary.dev/services/record-downloader/internal/state"
)

// RecordEnd is the last record file the live record stream wrote.
type RecordEnd struct {
	Stem string // its consensus-time stem
	Hash string // the file hash the network's signatures agreed on, hex
	// Block is its block number: the block stream continues at Block+1.
	Block uint64
	// Moving says the record stream wrote files in the pass that found
	// this one last: blocks past it that do not anchor are then expected
	// (a block stream written beside the record stream) and only noted.
	Moving bool
}

// Outcomes of a cutover probe (cutover_probes_total).
const (
	probeNoBlock       = "no_block"
	probeAnchored      = "anchored"
	probeNotAnchored   = "not_anchored"
	probeNoWrapped     = "no_wrapped_block"
	probeWrappedDiffer = "wrapped_mismatch"
	probeError         = "error"
)

// Cutover looks for the block after the record stream's last file and,
// when it continues the stream, makes the block stream's position: the
// block stream then takes over. It continues the stream when its footer
// names as previous root hash the root hash of the last record file's
// wrapped record block, and that wrapped block holds the very file the
// network's signatures agreed on (research: the cutover rule, HIP-1193).
// It reports whether it switched; a block after the record stream that
// does not anchor so is not the cutover (the network may still write
// record files while it also writes blocks), and is logged and counted.
func (f *Follower) Cutover(ctx context.Context, end RecordEnd) (bool, error) {
	if f.cfg.Verifier == nil {
		return false, errors.New("cutover: no block verifier configured to check the wrapped record block")
	}
	first, firstSrc, err := f.find(ctx, end.Block+1)
	if err != nil {
		f.m.CutoverProbes.WithLabelValues(probeError).Inc()
		return false, fmt.Errorf("cutover: block %d: %w", end.Block+1, err)
	}
	if first == nil {
		f.m.CutoverProbes.WithLabelValues(probeNoBlock).Inc()
		f.log.Debug("no block after the last record file yet", zap.String("record_file", end.Stem), zap.Uint64("block", end.Block+1))
		return false, nil
	}
	wrapped, wrappedSrc, err := f.find(ctx, end.Block)
	if err != nil {
		f.m.CutoverProbes.WithLabelValues(probeError).Inc()
		return false, fmt.Errorf("cutover: wrapped record block %d: %w", end.Block, err)
	}
	if wrapped == nil {
		f.waitCutover(end, probeNoWrapped, "block after the last record file found, but the wrapped record block of that file is in no source: the first block cannot be anchored, so the stream stays on record files (a block node keeps wrapped record blocks: set BLOCK_NODES)",
			zap.String("record_file", end.Stem), zap.Uint64("record_block", end.Block), zap.String("first_block_from", firstSrc))
		return false, nil
	}
	if !wrapped.Wrapped {
		f.waitCutover(end, probeNotAnchored, "block with the last record file's number is not a wrapped record block: the block stream does not start after this file",
			zap.String("record_file", end.Stem), zap.Uint64("block", end.Block), zap.String("source", wrappedSrc))
		return false, nil
	}
	root, alg, err := wrapped.RootHash()
	if err != nil {
		f.waitCutover(end, probeWrappedDiffer, "the last record file's wrapped record block has no root hash: no cutover", zap.Uint64("block", end.Block), zap.Error(err))
		return false, nil
	}
	// The record file rebuilt from the block, and its node signatures
	// weighed with the book in force.
	v, err := f.cfg.Verifier.Verify(wrapped, root, alg)
	if err != nil || v.Wrapped == nil {
		f.waitCutover(end, probeWrappedDiffer, "the last record file's wrapped record block does not verify: no cutover",
			zap.String("record_file", end.Stem), zap.Uint64("block", end.Block), zap.String("source", wrappedSrc), zap.Error(err))
		return false, nil
	}
	fileHash := v.Wrapped.File.FileHash
	if hex.EncodeToString(fileHash) != end.Hash {
		f.waitCutover(end, probeWrappedDiffer, "the wrapped record block with the last record file's number holds another file: no cutover",
			zap.String("record_file", end.Stem), zap.String("record_file_hash", end.Hash), zap.String("wrapped_file_hash", hex.EncodeToString(fileHash)),
			zap.Uint64("block", end.Block), zap.String("source", wrappedSrc))
		return false, nil
	}
	if !bytes.Equal(first.Footer.PreviousRootHash, root[:]) {
		f.waitCutover(end, probeNotAnchored, "the block after the last record file does not chain on that file's wrapped record block: not the cutover (the network may still be writing record files)",
			zap.String("record_file", end.Stem), zap.Uint64("block", end.Block+1), zap.String("previous_root_hash", hex.EncodeToString(first.Footer.PreviousRootHash)),
			zap.String("wrapped_root_hash", root.String()), zap.String("source", firstSrc))
		return false, nil
	}
	pos := state.BlockPosition{Number: end.Block, Root: root.String(), Time: wrapped.Header.Time(), Anchored: true,
		Cutover: &state.Cutover{RecordFile: end.Stem, RecordHash: end.Hash, RecordBlock: end.Block, WrappedRoot: root.String(), WrappedFrom: wrappedSrc, At: time.Now().UTC()}}
	if err := f.state.SaveBlocks(state.Blocks, pos); err != nil {
		f.m.Errors.WithLabelValues("state").Inc()
		return false, err
	}
	f.m.CutoverProbes.WithLabelValues(probeAnchored).Inc()
	f.m.Cutovers.Inc()
	f.m.CutoverBlock.Set(float64(end.Block + 1))
	f.RecordsMoved()
	f.m.Anchored.Set(1)
	f.log.Warn("cutover: the record stream ends, the block stream continues its numbering and chains on its last file; following blocks from now on",
		zap.String("last_record_file", end.Stem), zap.Uint64("record_block", end.Block), zap.Uint64("first_block", end.Block+1),
		zap.String("wrapped_root_hash", root.String()), zap.String("wrapped_from", wrappedSrc), zap.String("first_block_from", firstSrc))
	return true, nil
}

// RecordsMoved tells the follower the record stream wrote files again:
// a cutover that could not be made is not waited on.
func (f *Follower) RecordsMoved() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cutoverWait = time.Time{}
	f.m.CutoverWait.Set(0)
}

// waitCutover counts a probe that found blocks after the record stream
// it could not switch to and, when the record stream has stopped, marks
// since when.
func (f *Follower) waitCutover(end RecordEnd, outcome, msg string, fields ...zap.Field) {
	f.m.CutoverProbes.WithLabelValues(outcome).Inc()
	if end.Moving {
		f.log.Info(msg, fields...)
		return
	}
	f.mu.Lock()
	if f.cutoverWait.IsZero() {
		f.cutoverWait = time.Now()
		f.m.CutoverWait.Set(float64(f.cutoverWait.UnixNano()) / 1e9)
	}
	f.mu.Unlock()
	f.log.Warn(msg, fields...)
}

// find reads block n from the first source that has it, preferred first:
// the block, its source, or nil when none has it. It fails only when no
// source answered.
func (f *Follower) find(ctx context.Context, n uint64) (*blockstream.Block, string, error) {
	var errs []error
	answered := false
	seen := map[blocksrc.Source]bool{}
	for _, s := range append(f.candidates(), f.all()...) {
		if seen[s] {
			continue
		}
		seen[s] = true
		blk, ok, err := blocksrc.One(ctx, s, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		answered = true
		if !ok {
			continue
		}
		r := f.readers.Get().(*blockstream.Reader)
		b, err := r.Parse(blk.Name, blk.Data)
		f.readers.Put(r)
		if err != nil {
			f.m.Refused.WithLabelValues(reasonOf(err), s.Name()).Inc()
			f.log.Warn("block refused", zap.Uint64("block", n), zap.String("source", s.Name()), zap.Error(err))
			continue
		}
		return b, s.Name(), nil
	}
	if !answered && len(errs) > 0 {
		return nil, "", errors.Join(errs...)
	}
	return nil, "", nil
}
