package main

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"tributary.dev/libs/runner"
	"tributary.dev/services/record-downloader/internal/blocks"
	"tributary.dev/services/record-downloader/internal/downloader"
)

// pass is one pass of the live service: the block stream once it has a
// position (the cutover made one, or START_BLOCK), else the record
// stream and, once it has caught up, a look for the cutover: one request
// for the block after its last file.
func (a *app) pass(ctx context.Context) error {
	if a.blocks != nil {
		started, err := a.blocks.Started()
		if err != nil {
			return err
		}
		if started {
			return a.blockPass(ctx)
		}
	}
	res, err := a.records.Pass(ctx)
	a.log.Info("pass done", zap.Int("files", res.Files), zap.Int("skipped", res.Skipped),
		zap.Int("announced", res.Announced), zap.String("last", res.Last), zap.String("waiting_at", res.Waiting),
		zap.Bool("waiting_on_chain", res.WaitingOnChain), zap.Int("address_books_learned", res.Books))
	if err != nil || a.blocks == nil || !a.cutover || runner.Stopping(ctx) {
		return err
	}
	if res.Files > 0 {
		a.blocks.RecordsMoved()
	}
	if res.WaitingOnChain || res.Waiting != "" {
		// The record stream waits on its chain or on signatures of its
		// newest files: it has not ended.
		return nil
	}
	last, err := a.records.LastRecord()
	switch {
	case errors.Is(err, downloader.ErrNoRecord):
		return nil
	case err != nil:
		return err
	case !last.HasBlockNumber:
		a.log.Debug("the last record file carries no block number (v2/v5): no cutover after it", zap.String("record_file", last.Stem))
		return nil
	}
	switched, err := a.blocks.Cutover(ctx, blocks.RecordEnd{Stem: last.Stem, Hash: last.Hash, Block: last.BlockNumber, Moving: res.Files > 0})
	if err != nil {
		// The record pass did its work; the block sources are looked at
		// again next pass (cutover_probes_total{outcome="error"}).
		a.log.Warn("could not look for the cutover: the block sources did not answer", zap.String("record_file", last.Stem), zap.Error(err))
		return nil
	}
	if !switched {
		return nil
	}
	return a.blockPass(ctx)
}

func (a *app) blockPass(ctx context.Context) error {
	res, err := a.blocks.Pass(ctx)
	a.log.Info("block pass done", zap.Int("blocks", res.Blocks), zap.Uint64("last", res.Last), zap.String("source", res.Source),
		zap.Uint64("waiting_at", res.Waiting), zap.String("waiting_for", res.WaitingFor))
	return err
}
