package main

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/config"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/setup"
	"tributary.dev/services/record-downloader/internal/announce"
	"tributary.dev/services/record-downloader/internal/blocks"
	"tributary.dev/services/record-downloader/internal/blocksrc"
	"tributary.dev/services/record-downloader/internal/books"
	"tributary.dev/services/record-downloader/internal/downloader"
	"tributary.dev/services/record-downloader/internal/fetch"
	"tributary.dev/services/record-downloader/internal/names"
	"tributary.dev/services/record-downloader/internal/sink"
	"tributary.dev/services/record-downloader/internal/state"
)

// app is the record stream's downloader and, when block sources are
// configured, the block stream's follower.
type app struct {
	records *downloader.Downloader
	blocks  *blocks.Follower // nil without a block source
	cutover bool             // CUTOVER=auto
	log     *zap.Logger
}

// build wires the downloader: the address books, buckets, local
// directory, positions, NATS stream, metrics, block sources. cfg has been
// validated.
func build(ctx context.Context, cfg *Config, env *setup.Env) (*app, error) {
	nodes, _ := cfg.nodes()
	th, _ := cfg.threshold()
	pathType, _ := downloader.ParsePathType(cfg.PathType)
	start, source, err := cfg.book()
	if err != nil {
		return nil, err
	}
	shard, realm, err := shardRealm(start)
	if err != nil {
		return nil, err
	}
	stateDir := cfg.StateDir
	if stateDir == "" {
		stateDir = filepath.Join(cfg.DestDir, "_state")
	}
	history := recordstream.NewBookHistory(start, source)
	bs, err := books.Open(filepath.Join(stateDir, "addressbooks"))
	if err != nil {
		return nil, fmt.Errorf("STATE_DIR: %w", err)
	}
	learned, err := bs.Load(history, shard, realm)
	if err != nil {
		return nil, fmt.Errorf("STATE_DIR: %w", err)
	}
	for _, b := range history.Books() {
		env.Log.Info("address book", zap.Time("in_force_from", b.From), zap.String("source", b.Source), zap.Int("nodes", b.Book.Len()))
	}
	if learned > 0 {
		env.Log.Info("address books learned from the stream earlier", zap.Int("books", learned), zap.String("dir", bs.Dir()))
	}
	b, opts := cfg.storeOptions()
	store, err := env.Store(ctx, b, opts...)
	if err != nil {
		return nil, fmt.Errorf("BUCKET %s: %w", cfg.Bucket, err)
	}
	sk, err := sink.Open(cfg.DestDir)
	if err != nil {
		return nil, err
	}
	st, err := state.Open(stateDir)
	if err != nil {
		return nil, fmt.Errorf("STATE_DIR: %w", err)
	}
	var ann *announce.Announcer
	if cfg.Notifications {
		bus, err := env.NATS(ctx, cfg.NATS.Value())
		if err != nil {
			return nil, err
		}
		a, err := announce.New(ctx, bus, cfg.Stream, announce.Limits{
			Dedup:    time.Duration(cfg.DedupWindow) * time.Second,
			MaxAge:   time.Duration(cfg.StreamMaxAge) * time.Second,
			MaxBytes: cfg.StreamMaxBytes,
		})
		if err != nil {
			return nil, fmt.Errorf("NATS_STREAM: %w", err)
		}
		ann = a
	}
	f := cfg.fetcher(store)
	var dann downloader.Announcer
	if ann != nil {
		dann = ann
	}
	m := downloader.NewMetrics(env.Metrics)
	d, err := downloader.New(downloader.Config{
		Layout:   names.Layout{Prefix: cfg.BucketPrefix, Network: cfg.Network, Shard: shard},
		PathType: pathType, PathRefresh: time.Duration(cfg.PathRefresh) * time.Second,
		Nodes: nodes, Books: history, BookStore: bs, Threshold: th, Realm: realm,
		Concurrency: cfg.Concurrency, Batch: cfg.BatchSize, StartAfter: cfg.StartAfter,
	}, store, f, sk, st, dann, env.Log, m)
	if err != nil {
		return nil, err
	}
	d.Beat = env.Beat
	a := &app{records: d, log: env.Log}
	bc, _ := cfg.blockConfig()
	a.cutover = bc.cutover
	if len(bc.buckets) == 0 && len(bc.nodes) == 0 {
		return a, nil
	}
	var buckets []blocksrc.Source
	for _, ref := range bc.buckets {
		b, opts := cfg.blockStoreOptions(ref)
		bstore, err := env.Store(ctx, b, opts...)
		if err != nil {
			return nil, fmt.Errorf("BLOCK_BUCKETS %s: %w", ref, err)
		}
		bf := cfg.fetcher(bstore)
		bf.Observe = func(kind string, dur time.Duration) { m.Download.WithLabelValues(kind).Observe(dur.Seconds()) }
		bf.Failed = func(error) { m.Errors.WithLabelValues("get").Inc() }
		src, err := blocksrc.NewBucket(bstore, bf, blocksrc.BucketConfig{Scheme: ref.scheme, Network: cfg.Network, Folder: bc.folder, Window: cfg.Concurrency})
		if err != nil {
			return nil, fmt.Errorf("BLOCK_BUCKETS %s: %w", ref, err)
		}
		buckets = append(buckets, src)
	}
	bnodes, err := cfg.blockNodes(bc.nodes, env)
	if err != nil {
		return nil, err
	}
	verifier, err := cfg.blockVerifier(history, th)
	if err != nil {
		return nil, err
	}
	var bann blocks.Announcer
	if ann != nil {
		bann = ann
	}
	follower, err := blocks.New(blocks.Config{
		Network: cfg.Network, Mode: bc.mode, Confirm: cfg.BlockConfirm, Window: 2 * cfg.Concurrency, Workers: runtime.GOMAXPROCS(0),
		StartBlock: bc.start, Verified: m.Verified, Verifier: verifier,
	}, bnodes, buckets, sk, st, bann, env.Log, blocks.NewMetrics(env.Metrics, m.Errors, m.Announced))
	if err != nil {
		return nil, err
	}
	follower.Beat = env.Beat
	a.blocks = follower
	names := []string{}
	if bnodes != nil {
		names = append(names, bnodes.Name())
	}
	for _, b := range buckets {
		names = append(names, b.Name())
	}
	env.Log.Info("block sources", zap.Strings("sources", names), zap.String("mode", string(bc.mode)),
		zap.Bool("confirm", cfg.BlockConfirm && len(names) >= 2), zap.Bool("cutover", bc.cutover))
	return a, nil
}

// blockStoreOptions is a block bucket as a bucket config: its emulator
// endpoint is BLOCK_GCS_ENDPOINT or BLOCK_S3_ENDPOINT, else BUCKET_ENDPOINT
// when BUCKET is on the same cloud.
func (cfg *Config) blockStoreOptions(ref bucketRef) (config.Bucket, []blob.Option) {
	recordScheme, _, _ := cfg.bucket()
	endpoint := cfg.BlockGCSEndpoint
	if ref.scheme == "s3" {
		endpoint = cfg.BlockS3Endpoint
	}
	if endpoint == "" && recordScheme == ref.scheme {
		endpoint = cfg.Endpoint
	}
	return cfg.storeConfig(ref.scheme, ref.name, endpoint, "")
}

// storeOptions is BUCKET as a bucket config. The bucket's path is the
// prefix, so /readyz lists under it.
func (cfg *Config) storeOptions() (config.Bucket, []blob.Option) {
	scheme, name, _ := cfg.bucket()
	return cfg.storeConfig(scheme, name, cfg.Endpoint, strings.Trim(cfg.BucketPrefix, "/"))
}

// storeConfig is a bucket as a bucket config, with the requester-pays
// settings and credentials Hedera's buckets need; setup adds
// STORE_TIMEOUT and the readiness check.
func (cfg *Config) storeConfig(scheme, name, endpoint, path string) (config.Bucket, []blob.Option) {
	var opts []blob.Option
	b := config.Bucket{Name: name, Path: path}
	switch scheme {
	case "gs":
		b.Endpoint = "gs://"
		if endpoint != "" {
			b.Endpoint = "gcs+" + endpoint
		}
		if cfg.GCSBillingProject != "" {
			opts = append(opts, blob.WithGCSBillingProject(cfg.GCSBillingProject))
		}
		opts = append(opts, blob.WithGCSCredentialsFile(cfg.GCSCredentials))
	case "s3":
		b.Endpoint, b.ID, b.Key, b.Region = endpoint, cfg.AWSAccessKeyID, cfg.AWSSecretKey, cfg.AWSRegion
		// Without a static key: IRSA, instance roles, profiles.
		opts = append(opts, blob.WithS3DefaultCredentials())
		if cfg.S3RequesterPays {
			opts = append(opts, blob.WithS3RequesterPays())
		}
	}
	return b, opts
}

// fetcher reads objects of store with RETRIES attempts and backoff.
func (cfg *Config) fetcher(store blob.Store) *fetch.Fetcher {
	return &fetch.Fetcher{Store: store, Attempts: cfg.Retries, Backoff: 200 * time.Millisecond, MaxBackoff: 10 * time.Second}
}

// shardRealm is the shard and realm of the starting book's nodes: the
// node-id layout's shard, and the address-book files' shard.realm.
func shardRealm(b *recordstream.AddressBook) (int64, int64, error) {
	var shard, realm int64 = -1, -1
	for _, n := range b.Nodes() {
		parts := strings.Split(n.Account, ".")
		s, _ := strconv.ParseInt(parts[0], 10, 64)
		r, _ := strconv.ParseInt(parts[1], 10, 64)
		if shard >= 0 && (s != shard || r != realm) {
			return 0, 0, fmt.Errorf("address book: nodes of shard.realm %d.%d and %d.%d: one network's book has one", shard, realm, s, r)
		}
		shard, realm = s, r
	}
	return shard, realm, nil
}
