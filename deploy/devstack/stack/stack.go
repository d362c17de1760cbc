// Package stack starts Tributary's dependencies on fixed local ports for
// `make run`: the same real servers tests use (embedded NATS, versitygw,
// fake-gcs-server, kfake, the Elasticsearch stand-in, the agent stub) and
// a fresh PostgreSQL database.
package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"

	"tributary.dev/libs/config"
	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/agentstub"
	"tributary.dev/libs/testkit/blocknode"
	"tributary.dev/libs/testkit/esstub"
)

// The fixed ports services and people find the devstack on.
const (
	NATSPort  = 14222
	S3Port    = 19000
	GCSPort   = 14443
	KafkaPort = 19092
	ESPort    = 19200
	AgentPort = 18080
	// BlockNodePort is the block-node stand-in, serving the trickle's
	// wrapped record blocks and, after its cutover, its blocks.
	BlockNodePort = 14084
	// FixtureNATSPort is a second NATS for the fixture stream's
	// downloader and parser. The record-downloader always announces on
	// hedera.records.downloaded.>, and two JetStream streams of one
	// server cannot share subjects: on one server both downloaders' files
	// would land in one stream, and each parser would be handed the other
	// network's files.
	FixtureNATSPort = 14223
)

// JetStream streams of the two record networks: the trickle's on NATS,
// the fixtures' on the fixture NATS.
const (
	LiveRecordStream    = "HEDERA_RECORDS"
	FixtureRecordStream = "HEDERA_RECORDS_FIXTURES"
)

// ParsedStream is the JetStream stream each record-parser keeps its
// hedera.records.parsed events in (PARSED_STREAM), created by the parser
// on its network's NATS: one per server, as the subjects are fixed.
const ParsedStream = "HEDERA_RECORDS_PARSED"

// Database is the PostgreSQL database the devstack (re)creates.
const Database = "tributary_dev"

// SourceDatabase is the registry-processor's COLIN source (SOURCE_DB),
// a database of its own as the registry's copy is, (re)created empty and
// filled with generated corporations when the processor runs.
const SourceDatabase = "tributary_dev_colin"

// Buckets the devstack creates on its S3 server.
const (
	DeliveryBucket = "dms-deliveries"
	ArchiveBucket  = "topic-archive"
	RecordBucket   = "hedera-mainnet-streams" // on the GCS server
	// BlockBucket holds the trickle's block stream (on the GCS server):
	// <BlockNetworkFolder>/block/<block number in groups of four>.blk.zstd.
	BlockBucket        = "hedera-live-recent-block-streams"
	BlockNetworkFolder = "live"
)

// Stack is the running dependencies.
type Stack struct {
	log *zap.Logger
	dir string
	// Fixtures is the Hedera fixture files (testdata/hedera/hedera-mirror-node)
	// whose record streams Seed uploads; set it before Seed.
	Fixtures string
	// CutoverAfter, when set before Seed, is how many record files the
	// trickle writes before it cuts over to blocks (TrickleCutoverAfter
	// otherwise; 0: never).
	CutoverAfter *int
	PGAdmin      string
	PGDSN        string
	// SourceDSN is SourceDatabase's DSN.
	SourceDSN string
	nats      *server.Server
	natsFx    *server.Server
	s3        *testkit.S3Server
	gcs       *fakestorage.Server
	blockNode *blocknode.Server
	kafka     *kfake.Cluster
	es        func()
	agent     func()
	stops     []func()
}

// Start brings every dependency up, wiping dir first so each run starts
// from the same state. On error, what was started is stopped.
func Start(ctx context.Context, dir string, log *zap.Logger) (_ *Stack, err error) {
	st := &Stack{log: log, dir: dir}
	defer func() {
		if err != nil {
			st.Stop()
		}
	}()
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	for _, sub := range []string{"nats", "nats-fixtures", "s3", "records", "parsed"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	if err := checkPortsFree(); err != nil {
		return nil, err
	}

	// PostgreSQL: a fresh database on the same server tests use.
	if st.PGAdmin, err = testkit.PostgresAdmin(); err != nil {
		return nil, fmt.Errorf("postgres: %w (start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)", err)
	}
	if err := testkit.DropDatabase(st.PGAdmin, Database); err != nil {
		return nil, err
	}
	if st.PGDSN, err = testkit.CreateDatabase(st.PGAdmin, Database); err != nil {
		return nil, err
	}
	if err := testkit.DropDatabase(st.PGAdmin, SourceDatabase); err != nil {
		return nil, err
	}
	if st.SourceDSN, err = testkit.CreateDatabase(st.PGAdmin, SourceDatabase); err != nil {
		return nil, err
	}
	log.Info("postgres ready", zap.String("database", Database), zap.String("registry source", SourceDatabase))

	if st.nats, err = testkit.StartNATS("127.0.0.1", NATSPort, filepath.Join(dir, "nats")); err != nil {
		return nil, err
	}
	st.stops = append(st.stops, func() { st.nats.Shutdown(); st.nats.WaitForShutdown() })
	if st.natsFx, err = testkit.StartNATS("127.0.0.1", FixtureNATSPort, filepath.Join(dir, "nats-fixtures")); err != nil {
		return nil, err
	}
	st.stops = append(st.stops, func() { st.natsFx.Shutdown(); st.natsFx.WaitForShutdown() })
	log.Info("nats ready", zap.String("url", st.nats.ClientURL()), zap.String("fixture stream url", st.natsFx.ClientURL()))

	if st.s3, err = testkit.StartS3(ctx, fmt.Sprintf("127.0.0.1:%d", S3Port), filepath.Join(dir, "s3")); err != nil {
		return nil, err
	}
	st.stops = append(st.stops, st.s3.Stop)
	for _, b := range []string{DeliveryBucket, ArchiveBucket} {
		if _, err := st.s3.CreateBucket(ctx, b); err != nil {
			return nil, err
		}
	}
	log.Info("s3 ready", zap.String("endpoint", st.s3.Endpoint), zap.Strings("buckets", []string{DeliveryBucket, ArchiveBucket}))

	if st.gcs, err = testkit.StartGCS("127.0.0.1", GCSPort); err != nil {
		return nil, err
	}
	st.gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: RecordBucket})
	st.gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: BlockBucket})
	st.stops = append(st.stops, st.gcs.Stop)
	log.Info("gcs ready", zap.String("url", st.gcs.URL()), zap.Strings("buckets", []string{RecordBucket, BlockBucket}))

	st.blockNode = blocknode.New()
	if err := st.blockNode.Listen(fmt.Sprintf("127.0.0.1:%d", BlockNodePort)); err != nil {
		return nil, err
	}
	st.stops = append(st.stops, st.blockNode.Close)
	log.Info("block node stand-in ready", zap.String("addr", st.blockNode.Addr()))

	if st.kafka, err = testkit.StartKafka(KafkaPort, kfake.DefaultNumPartitions(3)); err != nil {
		return nil, err
	}
	st.stops = append(st.stops, st.kafka.Close)
	log.Info("kafka ready", zap.Strings("brokers", st.kafka.ListenAddrs()))

	_, st.es, err = esstub.New().Start(fmt.Sprintf("127.0.0.1:%d", ESPort))
	if err != nil {
		return nil, fmt.Errorf("elasticsearch stand-in: %w", err)
	}
	st.stops = append(st.stops, st.es)
	_, st.agent, err = agentstub.New(agentstub.Options{Latency: 20 * time.Millisecond}).Start(fmt.Sprintf("127.0.0.1:%d", AgentPort))
	if err != nil {
		return nil, fmt.Errorf("credential agent stub: %w", err)
	}
	st.stops = append(st.stops, st.agent)
	log.Info("elasticsearch stand-in and credential agent ready")
	return st, nil
}

// Stop stops everything in reverse order of starting.
func (st *Stack) Stop() {
	for i := len(st.stops) - 1; i >= 0; i-- {
		st.stops[i]()
	}
	st.stops = nil
}

// NATSURL is the devstack's NATS.
func (st *Stack) NATSURL() string { return fmt.Sprintf("nats://127.0.0.1:%d", NATSPort) }

// FixtureNATSURL is the NATS of the fixture stream's downloader and
// parser (see FixtureNATSPort).
func (st *Stack) FixtureNATSURL() string { return fmt.Sprintf("nats://127.0.0.1:%d", FixtureNATSPort) }

// ESURL is the devstack's Elasticsearch stand-in.
func (st *Stack) ESURL() string { return fmt.Sprintf("http://127.0.0.1:%d", ESPort) }

// KafkaBrokers is the devstack's Kafka.
func (st *Stack) KafkaBrokers() []string { return st.kafka.ListenAddrs() }

// Bucket is a config.Bucket for one of the devstack's S3 buckets.
func (st *Stack) Bucket(name, path string) config.Bucket {
	b := st.s3.Bucket(name)
	b.Path = path
	return b
}

// Describe prints the ports and the environment a developer needs to run
// a service by hand against the devstack.
func (st *Stack) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nTributary devstack is up:\n")
	fmt.Fprintf(&b, "  PostgreSQL     %s\n", config.RedactDSN(st.PGDSN))
	fmt.Fprintf(&b, "                 %s (the registry-processor's COLIN source: %d generated corps, new events every %s)\n",
		config.RedactDSN(st.SourceDSN), RegistryCorps, RegistryEventInterval)
	fmt.Fprintf(&b, "  NATS           %s (JetStream on; stream %s: the trickle's record files, %s: their parsed events)\n", st.NATSURL(), LiveRecordStream, ParsedStream)
	fmt.Fprintf(&b, "                 %s (stream %s: the fixture downloader's files, %s: their parsed events)\n", st.FixtureNATSURL(), FixtureRecordStream, ParsedStream)
	fmt.Fprintf(&b, "  S3             %s buckets %s, %s (key %s)\n", st.s3.Endpoint, DeliveryBucket, ArchiveBucket, testkit.S3AccessKey)
	fmt.Fprintf(&b, "  GCS            http://127.0.0.1:%d bucket %s: %s (generated, a file every %s), %s<dataset>/ (the fixtures)\n",
		GCSPort, RecordBucket, LiveRecordPrefix, TrickleInterval, FixtureRecordPrefix)
	fmt.Fprintf(&b, "                 bucket %s: %s/block/… (the trickle's wrapped record blocks, then its blocks after the cutover)\n", BlockBucket, BlockNetworkFolder)
	fmt.Fprintf(&b, "  Block node     127.0.0.1:%d (stand-in; the same blocks over the block node API)\n", BlockNodePort)
	fmt.Fprintf(&b, "  Kafka          %s\n", strings.Join(st.KafkaBrokers(), ","))
	fmt.Fprintf(&b, "  Elasticsearch  %s (stand-in; the record-parsers' hedera-transactions-YYYY.MM.DD)\n", st.ESURL())
	fmt.Fprintf(&b, "  Agent          http://127.0.0.1:%d/issue-credential (stub)\n", AgentPort)
	fmt.Fprintf(&b, "\n  Fixture record streams in gs://%s (point a record-downloader at one with\n  BUCKET_PREFIX, NODES and ADDRESS_BOOK=%s/addressbook/<book>):\n", RecordBucket, st.Fixtures)
	for _, s := range fixtureSets {
		fmt.Fprintf(&b, "    %-32s %-24s NODES=%s\n", FixtureRecordPrefix+s.name+"/", s.book, s.nodes)
	}
	for _, svc := range knownServices {
		fmt.Fprintf(&b, "\n  # %s (metrics on http://%s)\n", svc.name, svc.metricsAddr)
		for _, kv := range svc.env(st) {
			fmt.Fprintf(&b, "  export %s\n", shellQuoteEnv(kv))
		}
	}
	return b.String()
}

func shellQuoteEnv(kv string) string {
	k, v, _ := strings.Cut(kv, "=")
	return k + "='" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// checkPortsFree fails early, naming the port, if another devstack (or
// anything else) holds one of ours.
func checkPortsFree() error {
	var errs []error
	for _, p := range []int{NATSPort, FixtureNATSPort, S3Port, GCSPort, BlockNodePort, KafkaPort, ESPort, AgentPort} {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			errs = append(errs, fmt.Errorf("port %d is taken (is another devstack running?)", p))
			continue
		}
		ln.Close()
	}
	return errors.Join(errs...)
}
