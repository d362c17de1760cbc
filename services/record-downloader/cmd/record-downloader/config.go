package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"tributary.dev/libs/config"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/setup"
	"tributary.dev/services/record-downloader/internal/consensus"
	"tributary.dev/services/record-downloader/internal/names"
)

// Config is every variable the downloader reads; `record-downloader
// --help` prints it.
type Config struct {
	config.Common
	setup.Store
	Notifications     bool             `envconfig:"NOTIFICATIONS" default:"true" desc:"announce every file written on hedera.records.downloaded.<node> (JetStream)"`
	NATS              config.SecretURL `envconfig:"NATS" desc:"NATS server, nats://user:pw@host:4222 (required when NOTIFICATIONS is true)"`
	Stream            string           `envconfig:"NATS_STREAM" default:"HEDERA_RECORDS" desc:"JetStream stream the events are stored in (created or updated at start)"`
	DedupWindow       int              `envconfig:"DEDUP_WINDOW" default:"3600" desc:"seconds the stream remembers a Nats-Msg-Id, so an event sent again after a restart is dropped"`
	Bucket            string           `envconfig:"BUCKET" required:"true" desc:"the nodes' record-stream bucket: gs://name (Google Cloud Storage) or s3://name"`
	BucketPrefix      string           `envconfig:"BUCKET_PREFIX" default:"recordstreams/" desc:"key prefix before record<node>/"`
	Endpoint          string           `envconfig:"BUCKET_ENDPOINT" desc:"endpoint override for emulators: http://host:port (fake-gcs-server for gs://, an S3-compatible server for s3://)"`
	Nodes             string           `envconfig:"NODES" required:"true" desc:"node accounts to read, comma-separated, in the order record files are tried: 0.0.3,0.0.4,0.0.5"`
	AddressBook       string           `envconfig:"ADDRESS_BOOK" desc:"NodeAddressBook protobuf file (the network's 0.0.102) holding the nodes' RSA keys; or NODE_PUBLIC_KEYS"`
	NodePublicKeys    string           `envconfig:"NODE_PUBLIC_KEYS" desc:"directory of PEM public keys, one per node, named <account>.pem (0.0.3.pem); or ADDRESS_BOOK"`
	ConsensusRatio    string           `envconfig:"CONSENSUS_RATIO" default:"1/3" desc:"share of NODES whose verified signatures must agree on a file hash (fraction or decimal); 1/3 is the mirror node's default"`
	DestDir           string           `envconfig:"DEST_DIR" required:"true" desc:"local record directory: files go to DEST_DIR/<YYYY-MM-DD>/, refused ones to DEST_DIR/_quarantine/"`
	StateDir          string           `envconfig:"STATE_DIR" desc:"where the positions are kept (default DEST_DIR/_state)"`
	Concurrency       int              `envconfig:"CONCURRENCY" default:"16" desc:"downloads in flight at once"`
	BatchSize         int              `envconfig:"BATCH_SIZE" default:"1000" desc:"signature files listed per node at a time"`
	StartAfter        string           `envconfig:"START_AFTER" desc:"consensus time (as in object names, 2024-01-01T00_00_00.000000000Z) the live stream starts after when no position is saved; empty: the bucket's first file"`
	Retries           int              `envconfig:"RETRIES" default:"5" desc:"attempts per object download (5xx, timeouts, dropped connections), with backoff"`
	GCSBillingProject string           `envconfig:"GCS_BILLING_PROJECT" desc:"Google Cloud project billed for requests (Hedera's buckets are requester-pays and refuse requests without one)"`
	GCSCredentials    string           `envconfig:"GOOGLE_APPLICATION_CREDENTIALS" desc:"service-account key file for GCS; empty: the default credentials of the environment"`
	AWSAccessKeyID    string           `envconfig:"AWS_ACCESS_KEY_ID" desc:"S3 access key id (s3:// buckets)"`
	AWSSecretKey      config.Secret    `envconfig:"AWS_SECRET_ACCESS_KEY" desc:"S3 secret access key"`
	AWSRegion         string           `envconfig:"AWS_REGION" default:"us-east-1" desc:"S3 region"`
	S3RequesterPays   bool             `envconfig:"S3_REQUESTER_PAYS" default:"true" desc:"send RequestPayer: requester on S3 reads and listings (Hedera's S3 buckets are requester-pays)"`
}

// Validate checks what types cannot.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := c.bucket(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.nodes(); err != nil {
		errs = append(errs, err)
	}
	if (c.AddressBook == "") == (c.NodePublicKeys == "") {
		errs = append(errs, errors.New("ADDRESS_BOOK or NODE_PUBLIC_KEYS: set exactly one"))
	}
	if _, err := consensus.ParseRatio(c.ConsensusRatio); err != nil {
		errs = append(errs, fmt.Errorf("CONSENSUS_RATIO: %w", err))
	}
	if c.Notifications && c.NATS.IsZero() {
		errs = append(errs, errors.New("NATS: required when NOTIFICATIONS is true (or set NOTIFICATIONS=false)"))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("CONCURRENCY: at least 1, got %d", c.Concurrency))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("BATCH_SIZE: at least 1, got %d", c.BatchSize))
	}
	if c.Retries < 1 {
		errs = append(errs, fmt.Errorf("RETRIES: at least 1, got %d", c.Retries))
	}
	if c.DedupWindow < 1 {
		errs = append(errs, fmt.Errorf("DEDUP_WINDOW: at least 1 second, got %d", c.DedupWindow))
	}
	if c.StartAfter != "" {
		if _, err := names.Parse("", "record0.0.0/"+c.StartAfter+".rcd"); err != nil {
			errs = append(errs, fmt.Errorf("START_AFTER: %q is not a consensus time as object names write it (2024-01-01T00_00_00.000000000Z)", c.StartAfter))
		}
	}
	if p := c.BucketPrefix; p != "" && (!strings.HasSuffix(p, "/") || strings.HasPrefix(p, "/") || strings.Contains(p, "..")) {
		errs = append(errs, fmt.Errorf("BUCKET_PREFIX: %q must end in / and not start with / (e.g. recordstreams/)", p))
	}
	return errors.Join(errs...)
}

// bucket splits BUCKET into the backend and the bucket name.
func (c *Config) bucket() (scheme, name string, err error) {
	scheme, name, ok := strings.Cut(c.Bucket, "://")
	if !ok || (scheme != "gs" && scheme != "s3") || name == "" || strings.ContainsAny(name, "/ ") {
		return "", "", fmt.Errorf("BUCKET: want gs://name or s3://name, got %q", c.Bucket)
	}
	return scheme, name, nil
}

func (c *Config) nodes() ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, n := range strings.Split(c.Nodes, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if err := names.CheckAccount(n); err != nil {
			return nil, fmt.Errorf("NODES: %w", err)
		}
		if seen[n] {
			return nil, fmt.Errorf("NODES: %s listed twice", n)
		}
		seen[n] = true
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("NODES: no node given (e.g. 0.0.3,0.0.4,0.0.5)")
	}
	return out, nil
}

// book reads the nodes' keys from ADDRESS_BOOK or NODE_PUBLIC_KEYS.
func (c *Config) book(nodes []string) (*recordstream.AddressBook, error) {
	if c.AddressBook != "" {
		f, err := os.Open(c.AddressBook)
		if err != nil {
			return nil, fmt.Errorf("ADDRESS_BOOK: %w", err)
		}
		defer f.Close()
		b, err := recordstream.ReadAddressBook(c.AddressBook, f)
		if err != nil {
			return nil, fmt.Errorf("ADDRESS_BOOK: %w", err)
		}
		return b, nil
	}
	var list []recordstream.Node
	for _, n := range nodes {
		p := filepath.Join(c.NodePublicKeys, n+".pem")
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("NODE_PUBLIC_KEYS: node %s: %w", n, err)
		}
		key, err := recordstream.ParsePublicKeyPEM(data)
		if err != nil {
			return nil, fmt.Errorf("NODE_PUBLIC_KEYS: %s: %w", p, err)
		}
		list = append(list, recordstream.Node{Account: n, Key: key})
	}
	return recordstream.NewAddressBook(list...)
}
