package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"tributary.dev/libs/config"
	"tributary.dev/libs/setup"
	"tributary.dev/services/topic-archiver/internal/archive"
	"tributary.dev/services/topic-archiver/internal/kafkameta"
)

// Config is every variable the archiver reads; `topic-archiver --help`
// prints it.
type Config struct {
	config.Common
	setup.SQL
	setup.Store
	Brokers       []string         `envconfig:"KAFKA_BROKERS" required:"true" desc:"Kafka bootstrap servers, host:port,host:port"`
	Group         string           `envconfig:"KAFKA_GROUP" default:"tributary-archiver" desc:"consumer group; replicas in one group split the partitions"`
	SASLMechanism string           `envconfig:"KAFKA_SASL_MECHANISM" desc:"PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: no SASL"`
	SASLUser      string           `envconfig:"KAFKA_SASL_USER" desc:"SASL user"`
	SASLPassword  config.Secret    `envconfig:"KAFKA_SASL_PASSWORD" desc:"SASL password"`
	TLS           bool             `envconfig:"KAFKA_TLS" default:"false" desc:"connect to Kafka over TLS"`
	TLSCA         string           `envconfig:"KAFKA_TLS_CA" desc:"PEM file of CAs to trust for Kafka (default: the system's)"`
	Topics        string           `envconfig:"TOPICS" default:".*" desc:"regular expression (anchored) of topics to archive"`
	Veto          []string         `envconfig:"VETO_TOPICS" desc:"comma-separated regular expressions (anchored) of topics never read; __internal topics always are"`
	S3            config.Bucket    `envconfig:"S3" required:"true" desc:"where messages are stored: bucket_endpoint=… bucket_id=… bucket_key=… bucket_name=… bucket_path=…"`
	Target        config.DSN       `envconfig:"TARGET" required:"true" desc:"PostgreSQL index, libpq form: user=… password=… host=… port=… dbname=…"`
	NATS          config.SecretURL `envconfig:"NATS" desc:"NATS server for archive.stored.<topic> announcements; empty: none"`
	Stream        string           `envconfig:"NATS_STREAM" default:"ARCHIVE_STORED" desc:"JetStream stream archive.stored events are stored in (created or updated at start; NATS needs JetStream)"`
	DedupWindow   int              `envconfig:"DEDUP_WINDOW" default:"3600" desc:"seconds the stream remembers a Nats-Msg-Id, so an event sent again after a crash is dropped; at most STREAM_MAX_AGE"`
	StreamMaxAge  int              `envconfig:"STREAM_MAX_AGE" default:"604800" desc:"seconds the stream keeps an event (then the oldest go): the longest a consumer may be down and still read what it missed"`
	StreamBytes   int64            `envconfig:"STREAM_MAX_BYTES" default:"4294967296" desc:"bytes the stream keeps at most (then the oldest events go), so a stream nobody reads cannot fill the NATS server's disk"`
	StoreMode     string           `envconfig:"STORE_MODE" default:"object" desc:"object: one S3 object per message (the original); segment: many per object, per partition"`
	SegmentBytes  int              `envconfig:"SEGMENT_BYTES" default:"16777216" desc:"segment mode: write a segment once it holds this many bytes"`
	SegmentSecs   float64          `envconfig:"SEGMENT_SECONDS" default:"10" desc:"segment mode: write a segment once it is this old"`
	SegmentMemory int              `envconfig:"SEGMENT_MEMORY" default:"0" desc:"segment mode: bytes held in open segments across all partitions before the biggest is written early; 0: 4 × SEGMENT_BYTES"`
	BatchSize     int              `envconfig:"BATCH_SIZE" default:"2000" desc:"messages fetched, deduplicated and indexed together"`
	BatchBytes    int              `envconfig:"BATCH_BYTES" default:"67108864" desc:"a batch closes at BATCH_SIZE messages or this many bytes, whichever comes first; also sizes the fetch queue, so memory is bounded by bytes (README: memory ceiling)"`
	PutParallel   int              `envconfig:"PUT_CONCURRENCY" default:"32" desc:"object mode: S3 writes in flight"`
	ErrorHours    int              `envconfig:"ERROR_RETENTION" default:"720" desc:"hours archive_errors rows (topic-archiver logs) are kept; older ones are deleted once an hour"`
	TopicRefresh  int              `envconfig:"TOPIC_REFRESH" default:"30" desc:"seconds between looks for new topics"`
	IdleExit      int              `envconfig:"IDLE_EXIT" default:"60" desc:"with RUN_AS_SERVICE=false (archive to the current end of every partition, then exit): give up, with exit status 1, after this many seconds without a message while partitions are short of their end offset"`
	MetricTopics  int              `envconfig:"METRIC_TOPICS" default:"200" desc:"topics that get metric series of their own (messages, duplicates, lag…); later ones are counted under topic=\"_other\", so thousands of topics cannot blow up the series count; 0: no limit"`
	TestTopic     string           `envconfig:"TEST_TOPIC" default:"tributary.archiver.test" desc:"topic used by verify and removed by clean-tests"`
}

// Validate checks what types cannot.
func (c *Config) Validate() error {
	var errs []error
	if c.StoreMode != string(archive.ObjectMode) && c.StoreMode != string(archive.SegmentMode) {
		errs = append(errs, fmt.Errorf("STORE_MODE: want object or segment, got %q", c.StoreMode))
	}
	if _, err := archive.NewSelector(c.Topics, c.Veto); err != nil {
		errs = append(errs, err)
	}
	switch strings.ToUpper(c.SASLMechanism) {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		errs = append(errs, fmt.Errorf("KAFKA_SASL_MECHANISM: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", c.SASLMechanism))
	}
	if c.SegmentBytes < 1024 {
		errs = append(errs, fmt.Errorf("SEGMENT_BYTES: at least 1024, got %d", c.SegmentBytes))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("BATCH_SIZE: at least 1, got %d", c.BatchSize))
	}
	if c.ErrorHours < 1 {
		errs = append(errs, fmt.Errorf("ERROR_RETENTION: at least 1 hour, got %d", c.ErrorHours))
	}
	if c.DedupWindow < 1 || c.StreamMaxAge < 1 || c.DedupWindow > c.StreamMaxAge {
		errs = append(errs, fmt.Errorf("DEDUP_WINDOW, STREAM_MAX_AGE: at least 1 second each, the window at most the age; got %d and %d", c.DedupWindow, c.StreamMaxAge))
	}
	if c.Stream == "" {
		errs = append(errs, errors.New("NATS_STREAM: empty"))
	}
	if c.MetricTopics < 0 {
		errs = append(errs, fmt.Errorf("METRIC_TOPICS: at least 0, got %d", c.MetricTopics))
	}
	if c.BatchBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("BATCH_BYTES: at least 1048576, got %d", c.BatchBytes))
	}
	return errors.Join(errs...)
}

// dialer builds the Kafka dialer with SASL and TLS as configured.
func (c *Config) dialer() (*kafka.Dialer, error) {
	d := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, ClientID: "topic-archiver"}
	var mech sasl.Mechanism
	var err error
	switch strings.ToUpper(c.SASLMechanism) {
	case "PLAIN":
		mech = plain.Mechanism{Username: c.SASLUser, Password: c.SASLPassword.Value()}
	case "SCRAM-SHA-256":
		mech, err = scram.Mechanism(scram.SHA256, c.SASLUser, c.SASLPassword.Value())
	case "SCRAM-SHA-512":
		mech, err = scram.Mechanism(scram.SHA512, c.SASLUser, c.SASLPassword.Value())
	}
	if err != nil {
		return nil, fmt.Errorf("KAFKA_SASL_MECHANISM: %w", err)
	}
	d.SASLMechanism = mech
	if d.TLS, err = c.tlsConfig(); err != nil {
		return nil, err
	}
	return d, nil
}

// tlsConfig is KAFKA_TLS and KAFKA_TLS_CA; nil without TLS.
func (c *Config) tlsConfig() (*tls.Config, error) {
	if !c.TLS {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.TLSCA != "" {
		pem, err := os.ReadFile(c.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("KAFKA_TLS_CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("KAFKA_TLS_CA: no certificates in %s", c.TLSCA)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// metaClient is the client for topic ids, offsets and the group's
// commits (see kafkameta), with the same TLS and SASL as the dialer.
func (c *Config) metaClient() (*kafkameta.Client, error) {
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	return kafkameta.New(c.Brokers, kafkameta.Auth{TLS: tlsCfg, SASLMechanism: strings.ToUpper(c.SASLMechanism),
		SASLUser: c.SASLUser, SASLPassword: c.SASLPassword.Value()})
}

// archiveConfig is the domain's view of the configuration.
func (c *Config) archiveConfig(dialer *kafka.Dialer, meta *kafkameta.Client) archive.Config {
	sel, _ := archive.NewSelector(c.Topics, c.Veto) // validated by Load
	ac := archive.Config{
		Brokers: c.Brokers, Group: c.Group, Dialer: dialer, Meta: meta, Topics: sel, Mode: archive.Mode(c.StoreMode),
		Root: c.S3.Path, SegmentBytes: c.SegmentBytes, SegmentAge: time.Duration(c.SegmentSecs * float64(time.Second)),
		SegmentMemory: c.SegmentMemory,
		BatchSize:     c.BatchSize, BatchBytes: c.BatchBytes, PutConcurrency: c.PutParallel, TopicRefresh: time.Duration(c.TopicRefresh) * time.Second,
		ErrorRetention: time.Duration(c.ErrorHours) * time.Hour,
		MetricTopics:   c.MetricTopics,
		Stream: archive.StreamConfig{Name: c.Stream, Dedup: time.Duration(c.DedupWindow) * time.Second,
			MaxAge: time.Duration(c.StreamMaxAge) * time.Second, MaxBytes: c.StreamBytes},
	}
	if !c.RunAsService {
		ac.Once, ac.IdleExit = true, time.Duration(c.IdleExit)*time.Second
	}
	return ac
}
