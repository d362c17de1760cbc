package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/blockstream/blockgen"
	"tributary.dev/libs/config"
	"tributary.dev/libs/recordstream/streamgen"
	"tributary.dev/libs/testkit/blocknode"
)

// Where the record streams live in the devstack's GCS bucket
// (RecordBucket), each in the layout the record-downloader reads:
// <prefix>record<node>/<consensus time>.rcd[.gz], .rcd_sig beside it,
// sidecars under record<node>/sidecar/.
const (
	// LiveRecordPrefix holds the generated trickle: a new file every
	// TrickleInterval, signed by every node of TrickleNodes.
	LiveRecordPrefix = "recordstreams/"
	// FixtureRecordPrefix holds the real node-signed fixture streams, one
	// dataset per directory below it (fixtures/v6/record0.0.3/…), because
	// each dataset is signed by a different address book and they do not
	// chain into one another.
	FixtureRecordPrefix = "fixtures/"
	// FixtureDataset is the fixture dataset the devstack's second
	// downloader mirrors: v6 files with a sidecar.
	FixtureDataset = "v6"
	// FixtureDatasetBook verifies FixtureDataset (see the fixtures' README
	// for the book of each dataset).
	FixtureDatasetBook = "test-v6-sidecar-4n.bin"
)

// fixtureSet is one fixture dataset: its directory below the fixtures'
// recordstreams/, its name in the bucket (below FixtureRecordPrefix), the
// address book (in the fixtures' addressbook/) that verifies it, as the
// fixtures' README says, and the nodes that wrote it.
type fixtureSet struct {
	dir, name, book, nodes string
	// flat: the fixtures hold one node's files without a record0.0.N
	// directory; the bucket gets one.
	flat bool
}

func (s fixtureSet) bucketDir() string {
	if s.flat {
		return FixtureRecordPrefix + s.name + "/record" + s.nodes + "/"
	}
	return FixtureRecordPrefix + s.name + "/"
}

var fixtureSets = []fixtureSet{
	{dir: "v2", name: "v2", book: "testnet", nodes: "0.0.3,0.0.4,0.0.5,0.0.6"},
	{dir: "v5", name: "v5", book: "testnet", nodes: "0.0.3,0.0.4,0.0.5,0.0.6"},
	{dir: "v2v5", name: "v2v5", book: "testnet", nodes: "0.0.3,0.0.4,0.0.5,0.0.6"},
	{dir: "performance/v2", name: "performance-v2", book: "testnet", nodes: "0.0.3", flat: true},
	{dir: "v5v6", name: "v5v6", book: "test-v6-4n.bin", nodes: "0.0.3,0.0.4,0.0.5,0.0.6"},
	{dir: "eth-0.26.0", name: "eth-0.26.0", book: "test-v6-4n.bin", nodes: "0.0.3"},
	{dir: "v6", name: "v6", book: "test-v6-sidecar-4n.bin", nodes: "0.0.3,0.0.4,0.0.5,0.0.6"},
}

// TrickleNodes is how many nodes (0.0.3 …) write and sign the trickle.
const TrickleNodes = 3

// TrickleInterval is how often a new generated record file appears. Its
// consensus times follow the wall clock, so the downloader's lag is real.
const TrickleInterval = 4 * time.Second

// TrickleCutoverAfter is how many record files the trickle writes before
// its network cuts over to blocks (HIP-1193), ten minutes in: from then on
// a block appears every TrickleInterval instead of a record file, in
// BlockBucket and on the block-node stand-in, the first naming the root
// hash of the last record file's wrapped record block. Each record file's
// wrapped record block is published as the file is, so the cutover can be
// anchored. 0: the trickle never cuts over.
const TrickleCutoverAfter = 150

// RecordsDir is where the devstack keeps what the record-downloaders need
// (the generated address book) and where they write (DEST_DIR).
func (st *Stack) RecordsDir() string { return filepath.Join(st.dir, "records") }

// GeneratedAddressBook is the NodeAddressBook file of the trickle's nodes.
func (st *Stack) GeneratedAddressBook() string {
	return filepath.Join(st.RecordsDir(), "addressbook-generated.bin")
}

// FixtureAddressBook is the address book that verifies FixtureDataset.
func (st *Stack) FixtureAddressBook() string {
	return filepath.Join(st.Fixtures, "addressbook", FixtureDatasetBook)
}

// GCSBucket is the config for a bucket on the devstack's GCS server.
func (st *Stack) GCSBucket(name string) config.Bucket {
	return config.Bucket{Endpoint: fmt.Sprintf("gcs+http://127.0.0.1:%d", GCSPort), Name: name}
}

// trickleNodes lists the trickle's node accounts.
func trickleNodes() string {
	s := ""
	for i := range TrickleNodes {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf("0.0.%d", streamgen.FirstNode+i)
	}
	return s
}

// SeedRecords uploads every fixture dataset under FixtureRecordPrefix,
// writes the trickle network's address book, and starts the trickle under
// LiveRecordPrefix, with its block stream in BlockBucket and on the
// block-node stand-in; it runs until ctx is done. Missing fixtures are a
// warning (the trickle does not need them).
func (st *Stack) SeedRecords(ctx context.Context) error {
	store, err := blob.Open(ctx, st.GCSBucket(RecordBucket))
	if err != nil {
		return err
	}
	blocks, err := blob.Open(ctx, st.GCSBucket(BlockBucket))
	if err != nil {
		return err
	}
	after := TrickleCutoverAfter
	if st.CutoverAfter != nil {
		after = *st.CutoverAfter
	}
	return st.seedRecords(ctx, store, &blockSink{store: blocks, node: st.blockNode}, TrickleInterval, after)
}

// blockSink is where the trickle's blocks go: the block bucket, under
// BlockNetworkFolder, and the block-node stand-in.
type blockSink struct {
	store blob.Store
	node  *blocknode.Server
}

func (s *blockSink) put(ctx context.Context, b *blockgen.Block) error {
	data := b.Zstd()
	key := BlockNetworkFolder + "/block/" + b.ObjectPath()
	if err := s.store.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil && !errors.Is(err, blob.ErrExists) {
		return fmt.Errorf("block %d: %w", b.Number, err)
	}
	if _, err := s.node.Add(b.Plain); err != nil {
		return fmt.Errorf("block %d to the block node: %w", b.Number, err)
	}
	return nil
}

func (st *Stack) seedRecords(ctx context.Context, store blob.Store, blocks *blockSink, every time.Duration, cutoverAfter int) error {
	if err := os.MkdirAll(st.RecordsDir(), 0o755); err != nil {
		return err
	}
	if err := st.uploadFixtures(ctx, store); err != nil {
		return err
	}
	net, err := streamgen.NewNetwork(TrickleNodes)
	if err != nil {
		return err
	}
	if err := net.WriteAddressBook(st.GeneratedAddressBook()); err != nil {
		return err
	}
	// The first file is already closed when it is uploaded: its last
	// consensus time is before now.
	start := time.Now().UTC().Add(-every).Truncate(time.Millisecond)
	gen := net.Stream(streamgen.Options{
		Start: start, Interval: every, Items: 20, Mixed: true, SidecarEvery: 5,
		Seed: uint64(start.UnixNano()),
	})
	// The network's block stream: a wrapped record block per record
	// file (numbered as the files are, from 1), then blocks. TSS is off
	// on this network: proofs are the SHA-384 of the root.
	bgen := blockgen.New(blockgen.Options{FirstBlock: 1, Interval: every, Transactions: 20, Placeholder: true, Seed: uint64(start.UnixNano())})
	t := &trickle{st: st, store: store, gen: gen, net: net, blocks: blocks, bgen: bgen, every: every, cutoverAfter: cutoverAfter}
	go t.run(ctx)
	st.log.Info("record trickle started", zap.String("bucket", store.Bucket()), zap.String("prefix", LiveRecordPrefix),
		zap.String("nodes", trickleNodes()), zap.Stringer("every", every), zap.String("address_book", st.GeneratedAddressBook()),
		zap.Int("cutover_after_files", cutoverAfter), zap.String("block_bucket", blocks.store.Bucket()))
	return nil
}

func (st *Stack) uploadFixtures(ctx context.Context, store blob.Store) error {
	streams := filepath.Join(st.Fixtures, "recordstreams")
	if _, err := os.Stat(streams); err != nil {
		st.log.Warn("hedera fixtures not found; the bucket holds only the generated trickle", zap.String("dir", streams), zap.Error(err))
		return nil
	}
	total := 0
	for _, s := range fixtureSets {
		n, err := streamgen.UploadDir(ctx, store, filepath.Join(streams, filepath.FromSlash(s.dir)), s.bucketDir())
		if err != nil {
			return err
		}
		total += n
	}
	st.log.Info("hedera fixture streams uploaded", zap.Int("objects", total), zap.String("bucket", store.Bucket()), zap.String("prefix", FixtureRecordPrefix))
	return nil
}

// trickle is the generated network: a record file every interval, each
// node's copy and signature together, with its wrapped record block; after
// cutoverAfter files, a block every interval instead.
type trickle struct {
	st           *Stack
	store        blob.Store
	gen          *streamgen.Generator
	net          *streamgen.Network
	blocks       *blockSink
	bgen         *blockgen.Generator
	every        time.Duration
	cutoverAfter int
}

// run publishes until ctx is done.
func (t *trickle) run(ctx context.Context) {
	tick := time.NewTicker(t.every)
	defer tick.Stop()
	for n := 0; ; n++ {
		var err error
		if t.cutoverAfter == 0 || n < t.cutoverAfter {
			err = t.recordFile(ctx, n)
		} else {
			err = t.block(ctx, n)
		}
		if err != nil {
			if ctx.Err() == nil {
				t.st.log.Warn("record trickle stopped", zap.Error(err))
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (t *trickle) recordFile(ctx context.Context, n int) error {
	f, err := t.gen.Next()
	if err != nil {
		return err
	}
	objs, err := f.Objects(LiveRecordPrefix)
	if err != nil {
		return err
	}
	if err := streamgen.Upload(ctx, t.store, objs); err != nil {
		return err
	}
	w, err := t.bgen.Wrap(t.net, f)
	if err != nil {
		return err
	}
	if err := t.blocks.put(ctx, w); err != nil {
		return err
	}
	if n%15 == 0 {
		t.st.log.Info("record trickle", zap.Int("files", n+1), zap.String("latest", f.Name), zap.Uint64("block", w.Number))
	}
	return nil
}

func (t *trickle) block(ctx context.Context, n int) error {
	b, err := t.bgen.Next()
	if err != nil {
		return err
	}
	if err := t.blocks.put(ctx, b); err != nil {
		return err
	}
	switch {
	case n == t.cutoverAfter:
		t.st.log.Info("record trickle cut over: no more record files; blocks continue their numbering",
			zap.Uint64("last_record_file_block", b.Number-1), zap.Uint64("first_block", b.Number))
	case n%15 == 0:
		t.st.log.Info("block trickle", zap.Uint64("block", b.Number))
	}
	return nil
}
