package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/config"
	"tributary.dev/libs/setup"
	"tributary.dev/services/record-downloader/internal/announce"
	"tributary.dev/services/record-downloader/internal/consensus"
	"tributary.dev/services/record-downloader/internal/downloader"
	"tributary.dev/services/record-downloader/internal/fetch"
	"tributary.dev/services/record-downloader/internal/sink"
	"tributary.dev/services/record-downloader/internal/state"
)

// build wires the downloader: keys, bucket, local directory, positions,
// NATS stream, metrics. cfg has been validated.
func build(ctx context.Context, cfg *Config, env *setup.Env) (*downloader.Downloader, error) {
	nodes, _ := cfg.nodes()
	book, err := cfg.book(nodes)
	if err != nil {
		return nil, err
	}
	ratio, _ := consensus.ParseRatio(cfg.ConsensusRatio)
	b, opts := cfg.storeOptions()
	store, err := env.Store(ctx, b, opts...)
	if err != nil {
		return nil, fmt.Errorf("BUCKET %s: %w", cfg.Bucket, err)
	}
	sk, err := sink.Open(cfg.DestDir)
	if err != nil {
		return nil, err
	}
	stateDir := cfg.StateDir
	if stateDir == "" {
		stateDir = filepath.Join(cfg.DestDir, "_state")
	}
	st, err := state.Open(stateDir)
	if err != nil {
		return nil, fmt.Errorf("STATE_DIR: %w", err)
	}
	var ann downloader.Announcer
	if cfg.Notifications {
		bus, err := env.NATS(ctx, cfg.NATS.Value())
		if err != nil {
			return nil, err
		}
		a, err := announce.New(ctx, bus, cfg.Stream, time.Duration(cfg.DedupWindow)*time.Second)
		if err != nil {
			return nil, fmt.Errorf("NATS_STREAM: %w", err)
		}
		ann = a
	}
	f := &fetch.Fetcher{Store: store, Attempts: cfg.Retries, Backoff: 200 * time.Millisecond, MaxBackoff: 10 * time.Second}
	d, err := downloader.New(downloader.Config{
		Prefix: cfg.BucketPrefix, Nodes: nodes, Book: book, Ratio: ratio,
		Concurrency: cfg.Concurrency, Batch: cfg.BatchSize, StartAfter: cfg.StartAfter,
	}, store, f, sk, st, ann, env.Log, downloader.NewMetrics(env.Metrics))
	if err != nil {
		return nil, err
	}
	d.Beat = env.Beat
	return d, nil
}

// storeOptions is BUCKET as a bucket config, with the requester-pays
// settings Hedera's buckets need; setup adds STORE_TIMEOUT and the
// readiness check. The bucket's path is the prefix, so /readyz lists
// under it.
func (cfg *Config) storeOptions() (config.Bucket, []blob.Option) {
	scheme, name, _ := cfg.bucket()
	var opts []blob.Option
	b := config.Bucket{Name: name, Path: strings.Trim(cfg.BucketPrefix, "/")}
	switch scheme {
	case "gs":
		b.Endpoint = "gs://"
		if cfg.Endpoint != "" {
			b.Endpoint = "gcs+" + cfg.Endpoint
		}
		if cfg.GCSBillingProject != "" {
			opts = append(opts, blob.WithGCSBillingProject(cfg.GCSBillingProject))
		}
		opts = append(opts, blob.WithGCSCredentialsFile(cfg.GCSCredentials))
	case "s3":
		b.Endpoint, b.ID, b.Key, b.Region = cfg.Endpoint, cfg.AWSAccessKeyID, cfg.AWSSecretKey, cfg.AWSRegion
		if cfg.S3RequesterPays {
			opts = append(opts, blob.WithS3RequesterPays())
		}
	}
	return b, opts
}
