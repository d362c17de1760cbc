package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"tributary.dev/libs/setup"
)

// backfillMain is `record-downloader backfill --marker <prefix>` (record
// files) or `--blocks <from>-<to>` (blocks, wrapped record blocks for
// history): one run over the range, beside a running service (so without
// a metrics server of its own), exit 1 if it failed, found nothing,
// verified nothing or stopped before the end of the range.
func backfillMain(args []string) {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	marker := fs.String("marker", "", "consensus-time prefix of the files to fetch, e.g. 2022-07-13T08_46")
	blockRange := fs.String("blocks", "", "block numbers to fetch, e.g. 100-200 (or one block: 100)")
	var cfg Config
	if err := fs.Parse(args); err != nil && err != flag.ErrHelp {
		fmt.Fprintf(os.Stderr, "record-downloader backfill: %v (usage: record-downloader backfill --marker 2022-07-13T08_46, or --blocks 100-200)\n", err)
		os.Exit(2)
	}
	setup.Main("record-downloader backfill", "downloads and verifies the files whose names start with --marker, or the blocks --blocks names, apart from the live position", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			if (*marker == "") == (*blockRange == "") {
				return fmt.Errorf("--marker is required (a consensus-time prefix such as 2022-07-13T08_46), or --blocks (a block range such as 100-200); one of them")
			}
			var from, to uint64
			if *blockRange != "" {
				var err error
				if from, to, err = parseBlockRange(*blockRange); err != nil {
					return err
				}
			}
			a, err := build(ctx, &cfg, env)
			if err != nil {
				return err
			}
			if *blockRange != "" {
				if a.blocks == nil {
					return fmt.Errorf("--blocks: no block source (BLOCK_BUCKETS or BLOCK_NODES)")
				}
				res, err := a.blocks.Backfill(ctx, from, to)
				if err != nil {
					return err
				}
				env.Log.Info("backfill done", zap.Uint64("from", from), zap.Uint64("to", to), zap.Int("blocks", res.Blocks),
					zap.Uint64("last", res.Last), zap.String("source", res.Source))
				return nil
			}
			res, err := a.records.Backfill(ctx, *marker)
			if err != nil {
				return err
			}
			env.Log.Info("backfill done", zap.String("marker", *marker), zap.Int("files", res.Files),
				zap.Int("already_present", res.Present), zap.Int("skipped", res.Skipped), zap.String("last", res.Last),
				zap.Int("address_books_learned", res.Books))
			return nil
		}, setup.Args(args), setup.WithoutServer(), setup.MoreHelp(verbs))
}

// parseBlockRange reads --blocks: "100-200" or "100".
func parseBlockRange(s string) (from, to uint64, err error) {
	a, b, isRange := strings.Cut(s, "-")
	from, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 64)
	to, err2 := from, error(nil)
	if isRange {
		to, err2 = strconv.ParseUint(strings.TrimSpace(b), 10, 64)
	}
	if err1 != nil || err2 != nil || to < from {
		return 0, 0, fmt.Errorf("--blocks %q: want <from>-<to> block numbers, from ≤ to (e.g. 100-200)", s)
	}
	return from, to, nil
}
