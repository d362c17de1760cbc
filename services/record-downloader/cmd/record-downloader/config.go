package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/config"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/setup"
	"tributary.dev/services/record-downloader/internal/downloader"
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
	DedupWindow       int              `envconfig:"DEDUP_WINDOW" default:"3600" desc:"seconds the stream remembers a Nats-Msg-Id, so an event sent again (a restart, a retry from another signer, a backfill) is dropped; at most STREAM_MAX_AGE"`
	StreamMaxAge      int              `envconfig:"STREAM_MAX_AGE" default:"604800" desc:"seconds the stream keeps an event (then the oldest go): the longest a consumer may be down and still read what it missed"`
	StreamMaxBytes    int64            `envconfig:"STREAM_MAX_BYTES" default:"4294967296" desc:"bytes the stream keeps at most (then the oldest events go), so a stream nobody reads cannot fill the NATS server's disk"`
	Network           string           `envconfig:"NETWORK" default:"mainnet" desc:"the network's name: the node-id layout's first directory (<network>/<shard>/<node id>/record/) and the first part of each event's Nats-Msg-Id"`
	Bucket            string           `envconfig:"BUCKET" desc:"the nodes' record-stream bucket: gs://name (Google Cloud Storage) or s3://name; empty: the NETWORK preset's (mainnet gs://hedera-mainnet-streams, testnet gs://hedera-testnet-streams-2024-02, previewnet gs://hedera-preview-testnet-streams)"`
	BucketPrefix      string           `envconfig:"BUCKET_PREFIX" default:"recordstreams/" desc:"key prefix before record<account>/ in the account layout"`
	PathType          string           `envconfig:"PATH_TYPE" default:"ACCOUNT_ID" desc:"bucket layout: ACCOUNT_ID (<BUCKET_PREFIX>record<account>/), NODE_ID (<NETWORK>/<shard>/<node id>/record/) or AUTO (the account layout, and the node-id layout for a node with nothing new there for PATH_REFRESH_INTERVAL, as the mirror node does)"`
	PathRefresh       int              `envconfig:"PATH_REFRESH_INTERVAL" default:"10" desc:"seconds AUTO keeps to a node's account layout before it tries the node-id layout when the account layout has nothing new"`
	Endpoint          string           `envconfig:"BUCKET_ENDPOINT" desc:"endpoint override for emulators: http://host:port (fake-gcs-server for gs://, an S3-compatible server for s3://)"`
	Nodes             string           `envconfig:"NODES" desc:"nodes to download from, comma-separated accounts (0.0.3) or node ids (0), in the order record files are tried; empty: every node of the address book in force. The consensus threshold always counts the whole book"`
	AddressBook       string           `envconfig:"ADDRESS_BOOK" desc:"NodeAddressBook protobuf file (the network's 0.0.102): the book in force at the start of the stream; later books come from the stream's own 0.0.102 updates. Or NODE_PUBLIC_KEYS"`
	NodePublicKeys    string           `envconfig:"NODE_PUBLIC_KEYS" desc:"or: directory of PEM public keys named <account>.pem (0.0.3.pem), every one a node of the starting book, node id = account number - 3"`
	ConsensusRatio    string           `envconfig:"CONSENSUS_RATIO" default:"1/3" desc:"share of the whole network (the address book in force, not NODES) whose verified signatures must agree on a file hash (fraction or decimal); 1/3 is the mirror node's default"`
	ConsensusMode     string           `envconfig:"CONSENSUS_MODE" default:"STAKE" desc:"how nodes weigh: STAKE (by the book's stake field; every node 1 when the book carries none) or EQUAL (every node 1), as the mirror node's modes"`
	DestDir           string           `envconfig:"DEST_DIR" required:"true" desc:"local record directory: files go to DEST_DIR/<YYYY-MM-DD>/, refused ones to DEST_DIR/_quarantine/"`
	StateDir          string           `envconfig:"STATE_DIR" desc:"where the positions and the address books learned from the stream are kept (default DEST_DIR/_state)"`
	Concurrency       int              `envconfig:"CONCURRENCY" default:"16" desc:"downloads in flight at once"`
	BatchSize         int              `envconfig:"BATCH_SIZE" default:"1000" desc:"signature files listed per node at a time"`
	StartAfter        string           `envconfig:"START_AFTER" desc:"consensus time (as in object names, 2024-01-01T00_00_00.000000000Z) the live stream starts after when no position is saved; empty: the bucket's first file"`
	Retries           int              `envconfig:"RETRIES" default:"5" desc:"attempts per object download (5xx, timeouts, dropped connections), with backoff"`
	GCSBillingProject string           `envconfig:"GCS_BILLING_PROJECT" desc:"Google Cloud project billed for requests (Hedera's buckets are requester-pays and refuse requests without one)"`
	GCSCredentials    string           `envconfig:"GOOGLE_APPLICATION_CREDENTIALS" desc:"service-account key file for GCS; empty: the default credentials of the environment"`
	AWSAccessKeyID    string           `envconfig:"AWS_ACCESS_KEY_ID" desc:"S3 access key id (s3:// buckets); empty: the AWS default credential chain (web identity/IRSA, ECS or EC2 instance role, AWS_PROFILE and the shared files)"`
	AWSSecretKey      config.Secret    `envconfig:"AWS_SECRET_ACCESS_KEY" desc:"S3 secret access key (with AWS_ACCESS_KEY_ID)"`
	AWSRegion         string           `envconfig:"AWS_REGION" default:"us-east-1" desc:"S3 region"`
	S3RequesterPays   bool             `envconfig:"S3_REQUESTER_PAYS" default:"true" desc:"send RequestPayer: requester on S3 reads and listings (Hedera's S3 buckets are requester-pays)"`

	Cutover             string `envconfig:"CUTOVER" default:"auto" desc:"auto: follow the record stream and, when it stops and the block stream continues its numbering, switch to blocks on its own (checking the anchor); off: follow record files only, never switch"`
	BlockSource         string `envconfig:"BLOCK_SOURCE" default:"auto" desc:"where blocks come from: auto (block nodes when BLOCK_NODES is set, the buckets after 3 consecutive failures, and back, as the mirror node does), bucket, or block-node"`
	BlockBuckets        string `envconfig:"BLOCK_BUCKETS" desc:"block-stream buckets, comma-separated gs://name or s3://name; empty: the NETWORK preset's hedera-<network>-recent-block-streams on BUCKET's cloud; none: no bucket. Two (the GCS and S3 copies) are two independent sources"`
	BlockNetworkFolder  string `envconfig:"BLOCK_NETWORK_FOLDER" desc:"the block buckets' network folder (<folder>/block/…); empty: found at the bucket's root as the mirror node does (the greatest <NETWORK>-<12 digits>, or <NETWORK>)"`
	BlockGCSEndpoint    string `envconfig:"BLOCK_GCS_ENDPOINT" desc:"endpoint override for gs:// block buckets (fake-gcs-server); empty: BUCKET_ENDPOINT when BUCKET is gs://, else Google's"`
	BlockS3Endpoint     string `envconfig:"BLOCK_S3_ENDPOINT" desc:"endpoint override for s3:// block buckets (an S3-compatible server); empty: BUCKET_ENDPOINT when BUCKET is s3://, else AWS"`
	BlockNodes          string `envconfig:"BLOCK_NODES" desc:"block nodes, comma-separated host:port (default port 40840) with an optional /priority (lower first, default 0), tls:// in front for a node served over TLS (its certificate checked), e.g. tls://bn1.example.com:40840/0,bn2.example.com:40840/1"`
	BlockNodeCA         string `envconfig:"BLOCK_NODE_CA" desc:"PEM file of the authorities tls:// block nodes' certificates must chain to; empty: the system's"`
	BlockNodeStall      int    `envconfig:"BLOCK_NODE_STALL_TIMEOUT" default:"30" desc:"seconds a block node subscription may stay silent before it counts as failed and is subscribed again, from another node when one holds the block"`
	BlockConfirm        bool   `envconfig:"BLOCK_CONFIRM" default:"true" desc:"with two or more block sources configured (two buckets, or a bucket and block nodes), take a block only when a second source gives the same root hash; false: one source's block is taken once the block after it names its root hash"`
	LedgerID            string `envconfig:"LEDGER_ID" desc:"the network's ledger id (64 hex digits, the hash of its genesis TSS address book): with it a TSS block proof of the right structure is reported as tss_structure; the hinTS/WRAPS cryptography is not checked either way"`
	BlockTSSPlaceholder bool   `envconfig:"BLOCK_TSS_PLACEHOLDER" default:"false" desc:"accept the 48-byte SHA-384(root) placeholder a network with TSS off writes instead of a signature (local and test networks only; never on mainnet or testnet)"`
	StartBlock          string `envconfig:"START_BLOCK" desc:"block number the live block stream starts at when it has no position and no cutover made one (its first block is taken as it comes, unanchored); empty: blocks start only at the cutover"`
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
	if _, err := c.threshold(); err != nil {
		errs = append(errs, err)
	}
	if _, err := downloader.ParsePathType(c.PathType); err != nil {
		errs = append(errs, fmt.Errorf("PATH_TYPE: %w", err))
	}
	if err := names.CheckNetwork(c.Network); err != nil {
		errs = append(errs, fmt.Errorf("NETWORK: %w", err))
	}
	if c.PathRefresh < 1 {
		errs = append(errs, fmt.Errorf("PATH_REFRESH_INTERVAL: at least 1 second, got %d", c.PathRefresh))
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
	if c.StreamMaxAge < 1 {
		errs = append(errs, fmt.Errorf("STREAM_MAX_AGE: at least 1 second, got %d", c.StreamMaxAge))
	} else if c.DedupWindow > c.StreamMaxAge {
		errs = append(errs, fmt.Errorf("DEDUP_WINDOW (%d s) longer than STREAM_MAX_AGE (%d s): the stream cannot remember an id longer than it keeps the event", c.DedupWindow, c.StreamMaxAge))
	}
	if c.StreamMaxBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("STREAM_MAX_BYTES: at least 1 MiB, got %d", c.StreamMaxBytes))
	}
	if _, err := c.blockConfig(); err != nil {
		errs = append(errs, err)
	}
	if c.BlockNodeStall < 1 {
		errs = append(errs, fmt.Errorf("BLOCK_NODE_STALL_TIMEOUT: at least 1 second, got %d", c.BlockNodeStall))
	}
	if c.LedgerID != "" {
		if _, err := blockstream.ParseLedgerID(c.LedgerID, "LEDGER_ID"); err != nil {
			errs = append(errs, fmt.Errorf("LEDGER_ID: %w", err))
		}
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

// threshold is CONSENSUS_MODE and CONSENSUS_RATIO.
func (c *Config) threshold() (recordstream.Threshold, error) {
	mode, err := recordstream.ParseConsensusMode(c.ConsensusMode)
	if err != nil {
		return recordstream.Threshold{}, fmt.Errorf("CONSENSUS_MODE: %w", err)
	}
	ratio, err := recordstream.ParseRatio(c.ConsensusRatio)
	if err != nil {
		return recordstream.Threshold{}, fmt.Errorf("CONSENSUS_RATIO: %w", err)
	}
	return recordstream.Threshold{Mode: mode, Ratio: ratio}, nil
}

// bucket splits BUCKET (or the network preset's) into the backend and
// the bucket name.
func (c *Config) bucket() (scheme, name string, err error) {
	b := c.Bucket
	if b == "" {
		p, ok := presets[c.Network]
		if !ok {
			return "", "", fmt.Errorf("BUCKET: required for NETWORK %q (presets: mainnet, testnet, previewnet)", c.Network)
		}
		b = "gs://" + p.records
	}
	scheme, name, err = splitBucket(b)
	if err != nil {
		return "", "", fmt.Errorf("BUCKET: %w", err)
	}
	return scheme, name, nil
}

// splitBucket reads gs://name or s3://name.
func splitBucket(b string) (scheme, name string, err error) {
	scheme, name, ok := strings.Cut(b, "://")
	if !ok || (scheme != "gs" && scheme != "s3") || name == "" || strings.ContainsAny(name, "/ ") {
		return "", "", fmt.Errorf("want gs://name or s3://name, got %q", b)
	}
	return scheme, name, nil
}

// nodes is NODES: empty means every node of the book in force.
func (c *Config) nodes() ([]downloader.NodeRef, error) {
	var out []downloader.NodeRef
	seen := map[string]bool{}
	for _, n := range strings.Split(c.Nodes, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		ref, err := downloader.ParseNodeRef(n)
		if err != nil {
			return nil, fmt.Errorf("NODES: %w", err)
		}
		if seen[n] {
			return nil, fmt.Errorf("NODES: %s listed twice", n)
		}
		seen[n] = true
		out = append(out, ref)
	}
	return out, nil
}

// book reads the starting book from ADDRESS_BOOK or NODE_PUBLIC_KEYS.
func (c *Config) book() (*recordstream.AddressBook, string, error) {
	if c.AddressBook != "" {
		f, err := os.Open(c.AddressBook)
		if err != nil {
			return nil, "", fmt.Errorf("ADDRESS_BOOK: %w", err)
		}
		defer f.Close()
		b, err := recordstream.ReadAddressBook(c.AddressBook, f)
		if err != nil {
			return nil, "", fmt.Errorf("ADDRESS_BOOK: %w", err)
		}
		return b, "ADDRESS_BOOK " + c.AddressBook, nil
	}
	ents, err := os.ReadDir(c.NodePublicKeys)
	if err != nil {
		return nil, "", fmt.Errorf("NODE_PUBLIC_KEYS: %w", err)
	}
	var list []recordstream.Node
	for _, e := range ents {
		account, ok := strings.CutSuffix(e.Name(), ".pem")
		if !ok || e.IsDir() {
			continue
		}
		if err := names.CheckAccount(account); err != nil {
			return nil, "", fmt.Errorf("NODE_PUBLIC_KEYS: %s: want files named <account>.pem: %w", e.Name(), err)
		}
		p := filepath.Join(c.NodePublicKeys, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, "", fmt.Errorf("NODE_PUBLIC_KEYS: %w", err)
		}
		key, err := recordstream.ParsePublicKeyPEM(data)
		if err != nil {
			return nil, "", fmt.Errorf("NODE_PUBLIC_KEYS: %s: %w", p, err)
		}
		num, _ := strconv.ParseInt(account[strings.LastIndexByte(account, '.')+1:], 10, 64)
		list = append(list, recordstream.Node{Account: account, NodeID: num - 3, Key: key})
	}
	if len(list) == 0 {
		return nil, "", fmt.Errorf("NODE_PUBLIC_KEYS: no <account>.pem file in %s", c.NodePublicKeys)
	}
	b, err := recordstream.NewAddressBook(list...)
	if err != nil {
		return nil, "", fmt.Errorf("NODE_PUBLIC_KEYS: %w", err)
	}
	return b, "NODE_PUBLIC_KEYS " + c.NodePublicKeys, nil
}
