package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"tributary.dev/libs/metrics"
	"tributary.dev/libs/setup"
	"tributary.dev/services/s3-loader/internal/loader"
	"tributary.dev/services/s3-loader/internal/source"
)

// reloadMain is `s3-loader reload`: after DMS reloaded tables, empty them
// and start their next generation, so the next pass loads the new
// snapshot and only the changes after it.
func reloadMain(args []string) {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cdcFrom := fs.String("cdc-from", "", "apply change files stamped from this time (RFC 3339) on; default: when the new snapshot's first file was stored")
	note := fs.String("note", "", "why, recorded in loader_tables")
	var cfg Config
	setup.Main("s3-loader reload", "empties tables DMS reloaded and loads their new snapshot from the next pass on", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			if err := fs.Parse(args); err != nil {
				return fmt.Errorf("reload: %w", err)
			}
			if fs.NArg() == 0 {
				return errors.New("reload: name the tables, as SCHEMA.TABLE of the DMS folders (e.g. dbo.orders)")
			}
			var tables []source.Table
			for _, a := range fs.Args() {
				tb, err := source.ParseTable(a)
				if err != nil {
					return fmt.Errorf("reload: %w", err)
				}
				tables = append(tables, tb)
			}
			var from time.Time
			if *cdcFrom != "" {
				t, err := time.Parse(time.RFC3339Nano, *cdcFrom)
				if err != nil {
					return fmt.Errorf("reload: --cdc-from: %w", err)
				}
				from = t
			}
			tgt, src, err := open(ctx, &cfg, env)
			if err != nil {
				return err
			}
			// Nothing serves metrics for a one-off verb.
			l := loader.New(loaderConfig(&cfg, env), src, tgt, nil, nil, env.Log, loader.NewMetrics(metrics.New("s3-loader")))
			done, err := l.Reload(ctx, tables, from, *note)
			if err != nil {
				return err
			}
			for _, r := range done {
				fmt.Fprintf(os.Stdout, "%s: %s emptied; generation %d: %d full-load files, then changes stamped from %s\n",
					r.Table, r.Target, r.Generation, r.LoadFiles, r.CDCFrom.Format(time.RFC3339Nano))
			}
			return nil
		}, setup.VerbArgs(args), setup.WithoutServer(), setup.MoreHelp(func(w io.Writer) {
			fmt.Fprintln(w, "\nFlags:")
			fs.SetOutput(w)
			fs.PrintDefaults()
			verbs(w)
		}))
}
