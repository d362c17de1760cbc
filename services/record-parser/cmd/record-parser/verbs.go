package main

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/runner"
	"tributary.dev/libs/setup"
	"tributary.dev/services/record-parser/internal/intake"
	"tributary.dev/services/record-parser/internal/parser"
	"tributary.dev/services/record-parser/internal/state"
)

// backfillMain is `record-parser backfill --marker YYYY-MM-DD`: one day
// directory of RECORD_DIR in consensus order, beside a running service
// (so without a metrics server of its own), like the original's
// --backfill-marker.
func backfillMain(args []string) {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	marker := fs.String("marker", "", "day directory of RECORD_DIR to parse, YYYY-MM-DD")
	force := fs.Bool("force", false, "parse files already parsed again (documents and NDJSON are replaced, not doubled)")
	node := fs.String("node", "0", "node number the files' events name (the downloader's events say; a day directory does not)")
	if err := fs.Parse(args); err != nil && err != flag.ErrHelp {
		fmt.Fprintf(os.Stderr, "record-parser backfill: %v (usage: record-parser backfill --marker 2022-07-13 [--force] [--node 3])\n", err)
		os.Exit(2)
	}
	var cfg Config
	setup.Main("record-parser backfill", "parses the record files of one day directory (--marker YYYY-MM-DD) in consensus order", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			if *marker == "" {
				return errors.New("--marker is required (a day directory of RECORD_DIR, YYYY-MM-DD)")
			}
			for _, c := range *node {
				if c < '0' || c > '9' {
					return fmt.Errorf("--node %q: a node number such as 3", *node)
				}
			}
			jobs, skipped, err := intake.Day(cfg.RecordDir, *marker)
			if err != nil {
				return err
			}
			for _, n := range skipped {
				env.Log.Warn("not a record file name: left alone", zap.String("day", *marker), zap.String("name", n))
			}
			if len(jobs) == 0 {
				return fmt.Errorf("RECORD_DIR/%s holds no record file", *marker)
			}
			s, err := build(ctx, &cfg, env, kindBackfill)
			if err != nil {
				return err
			}
			return backfill(ctx, env.Log, s.parser, jobs, *node, *force)
		}, setup.Args(args), setup.WithoutServer(), setup.MoreHelp(verbs))
}

// backfill parses jobs one by one, in order, logging progress; it stops
// at a halt (the chain policy said stop) and goes on past other failures,
// which it reports at the end.
func backfill(ctx context.Context, log *zap.Logger, p *parser.Parser, jobs []intake.Job, node string, force bool) error {
	start := time.Now()
	var counts [4]int
	var failed []string
	lastLog := time.Now()
	for i, job := range jobs {
		if runner.Stopping(ctx) {
			return fmt.Errorf("stopped after %d of %d files", i, len(jobs))
		}
		job.Node = node
		out, err := p.Process(ctx, job, parser.Options{Force: force})
		if err != nil {
			log.Error("record file failed", zap.String("file", job.Rel()), zap.Error(err))
			failed = append(failed, job.Name)
			continue
		}
		counts[out]++
		if out == parser.Halted {
			return fmt.Errorf("the stream is halted at a chain break (file %s): see `record-parser status`, then `record-parser resume`", job.Rel())
		}
		if time.Since(lastLog) > 10*time.Second {
			log.Info("backfill progress", zap.Int("done", i+1), zap.Int("of", len(jobs)), zap.String("last", job.Name))
			lastLog = time.Now()
		}
	}
	log.Info("backfill done", zap.Int("files", len(jobs)), zap.Int("parsed", counts[parser.Done]),
		zap.Int("quarantined", counts[parser.Quarantined]), zap.Int("failed", len(failed)), zap.Duration("took", time.Since(start)))
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d files failed: %s", len(failed), len(jobs), strings.Join(failed, ", "))
	}
	return nil
}

// reparseMain is `record-parser reparse <day>/<file>...`: quarantined
// files whose copies the operator replaced, parsed again and taken back
// into the chain, in consensus order.
func reparseMain(args []string) {
	var cfg Config
	setup.Main("record-parser reparse", "parses quarantined record files again (RECORD_DIR/<day>/<file>, copies replaced) and records them as parsed when they fit the chain", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			files := args
			if len(files) == 0 {
				return errors.New("name the quarantined files: record-parser reparse 2022-07-13/2022-07-13T08_46_11.304284003Z.rcd.gz (record-parser status and QUARANTINE_DIR list them)")
			}
			var jobs []intake.Job
			for _, f := range files {
				day, name, ok := strings.Cut(f, "/")
				if !ok {
					return fmt.Errorf("%q: <YYYY-MM-DD>/<record file>, as under RECORD_DIR", f)
				}
				job, err := intake.NewJob(day, name, "0")
				if err != nil {
					return err
				}
				jobs = append(jobs, job)
			}
			// Record files by time, then blocks by number, as a day
			// directory lists them.
			slices.SortFunc(jobs, func(a, b intake.Job) int {
				switch {
				case a.Block != b.Block && a.Block:
					return 1
				case a.Block != b.Block:
					return -1
				case a.Block:
					return cmp.Compare(a.Number, b.Number)
				}
				return a.Start.Compare(b.Start)
			})
			s, err := build(ctx, &cfg, env, kindReparse)
			if err != nil {
				return err
			}
			var failed []string
			for _, job := range jobs {
				out, err := s.parser.Reparse(ctx, job)
				switch {
				case err != nil:
					fmt.Printf("%s: not taken back: %v\n", job.Rel(), err)
					failed = append(failed, job.Rel())
				case out == parser.Halted:
					h, _ := s.state.Halted(ctx)
					at := "a chain break"
					if h != nil {
						at = h.File
					}
					fmt.Printf("%s: not taken back: the stream is halted at %s, before this file (record-parser status)\n", job.Rel(), at)
					failed = append(failed, job.Rel())
				default:
					fmt.Printf("%s: parsed and recorded\n", job.Rel())
				}
			}
			if h, err := s.state.Halted(ctx); err != nil {
				return err
			} else if h != nil {
				fmt.Printf("the stream is halted at %s: %s\n", h.File, h.Reason)
			} else {
				fmt.Println("the stream is not halted")
			}
			if len(failed) > 0 {
				return fmt.Errorf("%d of %d files not taken back: %s", len(failed), len(jobs), strings.Join(failed, ", "))
			}
			return nil
		}, setup.Args(args), setup.WithoutServer(), setup.MoreHelp(verbs))
}

// statusMain is `record-parser status`: where the stream is, and why it
// stopped if it did.
func statusMain(args []string) {
	var cfg Config
	setup.Main("record-parser status", "prints the stream's last file parsed, its halt and chain breaks", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			s, err := buildState(ctx, &cfg, env)
			if err != nil {
				return err
			}
			w := os.Stdout
			last, err := s.Last(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "network %s\n", cfg.Network)
			if last == nil {
				fmt.Fprintln(w, "last parsed: none")
			} else {
				what := fmt.Sprintf("v%d", last.Version)
				switch last.Kind {
				case state.KindBlock:
					what = "block"
				case state.KindWrapped:
					what = fmt.Sprintf("wrapped record block, v%d", last.Version)
				}
				if last.BlockNumber != nil {
					what += fmt.Sprintf(" %d", *last.BlockNumber)
					if last.Kind == state.KindRecord || last.Kind == "" {
						what = fmt.Sprintf("v%d, block %d", last.Version, *last.BlockNumber)
					}
				}
				fmt.Fprintf(w, "last parsed: %s (%s, %d transactions, consensus end %s, ends with %s)\n", last.Name, what, last.Count,
					time.Unix(0, last.ConsensusEnd).UTC().Format(time.RFC3339Nano), hex.EncodeToString(last.ChainHash))
			}
			h, err := s.Halted(ctx)
			if err != nil {
				return err
			}
			if h == nil {
				fmt.Fprintln(w, "halted: no")
			} else {
				fmt.Fprintf(w, "halted: yes, at %s since %s: %s\n", h.File, h.Since.UTC().Format(time.RFC3339), h.Reason)
			}
			breaks, err := s.Breaks(ctx)
			if err != nil {
				return err
			}
			// A break resolved by a file that came late (the two were not
			// neighbours) was never one; it is listed, not counted.
			open := 0
			for _, b := range breaks {
				if b.ResolvedBy == "" {
					open++
				}
			}
			fmt.Fprintf(w, "chain breaks: %d\n", open)
			for _, b := range breaks {
				what := "open"
				switch {
				case b.ResolvedBy != "":
					what = "not a break: " + b.ResolvedBy + " came later, between them"
				case b.AcceptedAt != nil:
					what = "accepted by " + b.AcceptedBy + " at " + b.AcceptedAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(w, "  %s after %s: %s: expected %s, found %s (policy %s, detected %s; %s)\n", b.File, b.PrevFile, b.Why(),
					hex.EncodeToString(b.Expected), hex.EncodeToString(b.Found), b.Policy, b.DetectedAt.UTC().Format(time.RFC3339), what)
			}
			return nil
		}, setup.Args(args), setup.WithoutServer(), setup.MoreHelp(verbs))
}

// resumeMain is `record-parser resume`: the operator has looked at the
// break and lets the stream go on from the file that broke it.
func resumeMain(args []string) {
	var cfg Config
	setup.Main("record-parser resume", "accepts the chain break the stream is halted at and lets it go on", &cfg,
		func(ctx context.Context, env *setup.Env) error {
			s, err := buildState(ctx, &cfg, env)
			if err != nil {
				return err
			}
			by := os.Getenv("USER")
			if h, _ := os.Hostname(); h != "" {
				by += "@" + h
			}
			accepted, err := s.Resume(ctx, by)
			if err != nil {
				return err
			}
			if len(accepted) == 0 {
				fmt.Println("nothing to resume: the stream is not halted")
				return nil
			}
			for _, b := range accepted {
				fmt.Printf("accepted: %s after %s\n", b.File, b.PrevFile)
			}
			return nil
		}, setup.Args(args), setup.WithoutServer(), setup.MoreHelp(verbs))
}
