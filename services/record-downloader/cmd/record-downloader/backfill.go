package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"

	"tributary.dev/libs/progress"
	"tributary.dev/libs/setup"
	"tributary.dev/services/record-downloader/internal/downloader"
)

// backfillMain is `record-downloader backfill --marker <prefix>`: one run
// over the files under the marker, beside a running service (so without
// a metrics server of its own), exit 1 if it failed, found nothing, verified nothing or stopped
// before the end of the marker's files.
func backfillMain(args []string) {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	marker := fs.String("marker", "", "consensus-time prefix of the files to fetch, e.g. 2022-07-13T08_46")
	var cfg Config
	if err := fs.Parse(args); err != nil && err != flag.ErrHelp {
		fmt.Fprintf(os.Stderr, "record-downloader backfill: %v (usage: record-downloader backfill --marker 2022-07-13T08_46)\n", err)
		os.Exit(2)
	}
	setup.Main("record-downloader backfill", "downloads and verifies the files whose names start with --marker, apart from the live position", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			if *marker == "" {
				return fmt.Errorf("--marker is required (a consensus-time prefix such as 2022-07-13T08_46)")
			}
			d, err := build(ctx, &cfg, env)
			if err != nil {
				return err
			}
			report := progress.New(os.Stderr, "backfill "+*marker+": files written or already there")
			d.Committed = func(res downloader.Result) { report(res.Files+res.Present, 0) }
			res, err := d.Backfill(ctx, *marker)
			progress.Done(os.Stderr)
			if err != nil {
				return err
			}
			env.Log.Info("backfill done", zap.String("marker", *marker), zap.Int("files", res.Files),
				zap.Int("already_present", res.Present), zap.Int("skipped", res.Skipped), zap.String("last", res.Last),
				zap.Int("address_books_learned", res.Books))
			return nil
		}, setup.VerbArgs(args), setup.WithoutServer(), setup.MoreHelp(verbs))
}
