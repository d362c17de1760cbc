// Command s3-loader loads AWS DMS deliveries (full load and CDC) from S3
// into PostgreSQL, one transaction per file, and announces each on NATS.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"tributary.dev/libs/config"
	"tributary.dev/libs/logging"
)

const summary = "loads AWS DMS deliveries (full load + CDC) from S3 into PostgreSQL and announces each on NATS"

func main() {
	if config.HelpRequested(os.Args[1:]) {
		config.Usage(os.Stdout, "s3-loader", summary, &Config{})
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "s3-loader:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	var cfg Config
	if err := config.Load(&cfg); err != nil {
		return err
	}
	log, err := logging.New(cfg.LogLevel)
	if err != nil {
		return err
	}
	defer log.Sync()
	log.Info("starting", zap.Stringer("source", cfg.Source), zap.Stringer("target", cfg.Target), zap.Bool("dry_run", cfg.DryRun), zap.String("on_bad_file", cfg.OnBadFile))

	return run(ctx, cfg, log)
}
