package streamgen

import (
	"bytes"
	"compress/gzip"
	"crypto/rsa"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/txgen"
)

// NameLayout is how a stream file is named by the consensus time of its
// first transaction: RFC 3339 in UTC, colons replaced by underscores, nine
// digits of fraction (the network's v6 names).
const NameLayout = "2006-01-02T15_04_05.000000000Z"

// Options shape a generated stream. Zero values take the defaults.
type Options struct {
	// Start is the consensus time of the first file's first item
	// (default 2024-01-01T00:00:00Z).
	Start time.Time
	// Interval is the time from one file's first item to the next's
	// (default 2s, as the network closes a record file every 2 s).
	Interval time.Duration
	// Items is the number of transactions per file (default 8).
	Items int
	// TxBytes is the size of each transaction's signed bytes (default 64),
	// which sets a file's size: about Items × (TxBytes + 110) bytes. The
	// bytes are random, so gzip hardly shrinks them.
	TxBytes int
	// Mixed makes the items real transactions of mainnet's mix (txgen:
	// transfers, topic messages, contract calls, …) that decode into
	// documents, instead of random bytes; TxBytes is then unused.
	Mixed bool
	// SidecarEvery makes every n-th file (the first included) list one
	// sidecar file of contract bytecode; 0 makes none.
	SidecarEvery int
	// StartHash is the first file's start running hash (default 48 zero
	// bytes, as a stream's first file has).
	StartHash []byte
	// FirstBlock is the first file's block number (default 1).
	FirstBlock int64
	// HAPI is the API version in the files (default 0.47.0).
	HAPI recordstream.HAPIVersion
	// Seed makes the contents reproducible (default 1).
	Seed uint64
}

func (o Options) withDefaults() Options {
	if o.Start.IsZero() {
		o.Start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Items <= 0 {
		o.Items = 8
	}
	if o.TxBytes <= 0 {
		o.TxBytes = 64
	}
	if o.StartHash == nil {
		o.StartHash = make([]byte, recordstream.HashSize)
	}
	if o.FirstBlock == 0 {
		o.FirstBlock = 1
	}
	if o.HAPI == (recordstream.HAPIVersion{}) {
		o.HAPI = recordstream.HAPIVersion{Major: 0, Minor: 47, Patch: 0}
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Generator writes the consecutive files of one stream.
type Generator struct {
	net   *Network
	opts  Options
	rng   *rand.ChaCha8
	next  time.Time
	prev  []byte // the end running hash the next file starts from
	block int64
	index int
	broke bool
	// announce is the address book the next file announces (AnnounceBook).
	announce *announcement
}

// Stream starts a stream written and signed by every node of the network.
func (n *Network) Stream(o Options) *Generator {
	o = o.withDefaults()
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], o.Seed)
	return &Generator{
		net: n, opts: o, rng: rand.NewChaCha8(seed),
		next: o.Start.UTC(), prev: bytes.Clone(o.StartHash), block: o.FirstBlock,
	}
}

// SetNetwork makes the nodes of net sign the files from the next one on
// (after Network.RotateKey, say); the stream goes on unbroken.
func (g *Generator) SetNetwork(net *Network) { g.net = net }

// BreakChain makes the next file start from a running hash that no file
// ended with, as if files were lost between the two: every node still
// signs it, so only the chain check can tell.
func (g *Generator) BreakChain() { g.broke = true }

// Sidecar is one sidecar file of a record file.
type Sidecar struct {
	ID    int32
	Name  string // <record's consensus time>_<id, two digits>.rcd.gz
	Plain []byte // the SidecarFile protobuf, before gzip
	Hash  []byte // what the record file lists for it
}

// File is one record file of the stream: the content every node agrees
// on, each node's signature, and how each node's copy is broken, if it is.
type File struct {
	Name      string    // <consensus time>.rcd.gz
	Consensus time.Time // of the first item
	// Record is the file as libs/recordstream reads it: items, hashes,
	// block number, sidecar list.
	Record *recordstream.RecordFile
	// Plain is the record file's bytes before gzip (what FileHash is of).
	Plain    []byte
	Sidecars []Sidecar

	net    *Network
	index  int
	sigs   map[string]*recordstream.Signature // each node's honest signature
	faults map[string]Fault
	forged *forgery // the content a Tampered or Forked node serves
	// unchained is the content an Unchained node serves.
	unchained *forgery
}

// Next writes the stream's next file and every node's signature of it.
func (g *Generator) Next() (*File, error) {
	o := g.opts
	start := g.prev
	if g.broke {
		start = make([]byte, recordstream.HashSize)
		g.rng.Read(start)
		g.broke = false
	}
	f := &File{
		Name: g.next.Format(NameLayout) + ".rcd.gz", Consensus: g.next,
		net: g.net, index: g.index, sigs: map[string]*recordstream.Signature{}, faults: map[string]Fault{},
	}
	var items []recordstream.Item
	if o.Mixed {
		items = txgen.Items(o.Items, int64(o.Seed)+int64(g.index), g.next)
	} else {
		step := o.Interval / time.Duration(o.Items)
		items = make([]recordstream.Item, o.Items)
		for i := range items {
			items[i] = g.item(g.next.Add(time.Duration(i) * step))
		}
	}
	if g.announce != nil {
		items = append(items, g.announce.items(items)...)
	}
	if o.SidecarEvery > 0 && g.index%o.SidecarEvery == 0 {
		sc, err := g.sidecar(f.Name, 1, g.next)
		if err != nil {
			return nil, err
		}
		f.Sidecars = append(f.Sidecars, sc)
	}
	var err error
	if f.Plain, f.Record, err = buildRecord(f.Name, o.HAPI, start, items, g.block, f.Sidecars); err != nil {
		return nil, err
	}
	for _, node := range g.net.Nodes {
		if f.sigs[node.Account], err = sign(node.Key, f.Record); err != nil {
			return nil, fmt.Errorf("streamgen: node %s signs %s: %w", node.Account, f.Name, err)
		}
	}
	if g.announce != nil {
		// The file that announces the book is signed with the keys of the
		// book before it; the files after it with the new book's.
		g.net, g.announce = g.announce.net, nil
	}
	g.prev = f.Record.EndRunningHash
	g.next = g.next.Add(o.Interval)
	g.block++
	g.index++
	return f, nil
}

// item is one transaction: a Transaction whose signedTransactionBytes are
// random, and a TransactionRecord with a SUCCESS receipt, the
// transaction's hash, the consensus timestamp and a fee.
func (g *Generator) item(ts time.Time) recordstream.Item {
	body := make([]byte, g.opts.TxBytes)
	g.rng.Read(body)
	tx := protowire.AppendTag(nil, 5, protowire.BytesType) // signedTransactionBytes
	tx = protowire.AppendBytes(tx, body)

	var receipt []byte
	receipt = protowire.AppendTag(receipt, 1, protowire.VarintType) // status
	receipt = protowire.AppendVarint(receipt, 22)                   // SUCCESS
	var stamp []byte
	stamp = protowire.AppendTag(stamp, 1, protowire.VarintType)
	stamp = protowire.AppendVarint(stamp, uint64(ts.Unix()))
	stamp = protowire.AppendTag(stamp, 2, protowire.VarintType)
	stamp = protowire.AppendVarint(stamp, uint64(ts.Nanosecond()))
	txHash := sha512.Sum384(tx)

	var rec []byte
	rec = protowire.AppendTag(rec, 1, protowire.BytesType) // receipt
	rec = protowire.AppendBytes(rec, receipt)
	rec = protowire.AppendTag(rec, 2, protowire.BytesType) // transactionHash
	rec = protowire.AppendBytes(rec, txHash[:])
	rec = protowire.AppendTag(rec, 3, protowire.BytesType) // consensusTimestamp
	rec = protowire.AppendBytes(rec, stamp)
	rec = protowire.AppendTag(rec, 6, protowire.VarintType) // transactionFee
	rec = protowire.AppendVarint(rec, 100_000+g.rng.Uint64()%100_000)
	return recordstream.Item{Transaction: tx, Record: rec, ConsensusNs: ts.UnixNano()}
}

// sidecar is a SidecarFile holding one contract's bytecode, hashed by
// libs/recordstream the way a reader checks it.
func (g *Generator) sidecar(recordName string, id int32, ts time.Time) (Sidecar, error) {
	code := make([]byte, 256)
	g.rng.Read(code)
	sf := &hederapb.SidecarFile{SidecarRecords: []*hederapb.TransactionSidecarRecord{{
		ConsensusTimestamp: &hederapb.Timestamp{Seconds: ts.Unix(), Nanos: int32(ts.Nanosecond())},
		SidecarRecords: &hederapb.TransactionSidecarRecord_Bytecode{Bytecode: &hederapb.ContractBytecode{
			ContractId:      &hederapb.ContractID{Contract: &hederapb.ContractID_ContractNum{ContractNum: 1001}},
			RuntimeBytecode: code,
		}},
	}}}
	plain, err := proto.MarshalOptions{Deterministic: true}.Marshal(sf)
	if err != nil {
		return Sidecar{}, fmt.Errorf("streamgen: sidecar of %s: %w", recordName, err)
	}
	sc := Sidecar{ID: id, Name: recordstream.SidecarName(recordName, id), Plain: plain}
	read, err := recordstream.ParseSidecar(sc.Name, gzipBytes(plain, ts))
	if err != nil {
		return Sidecar{}, fmt.Errorf("streamgen: generated sidecar does not read: %w", err)
	}
	sc.Hash = read.Hash
	return sc, nil
}

// buildRecord writes a v6 record file with libs/recordstream's encoder
// and reads it back, which computes the hashes the nodes sign (and checks
// what was written).
func buildRecord(name string, hapi recordstream.HAPIVersion, start []byte, items []recordstream.Item, block int64, sidecars []Sidecar) ([]byte, *recordstream.RecordFile, error) {
	metas := make([]recordstream.SidecarMeta, len(sidecars))
	for i, sc := range sidecars {
		metas[i] = recordstream.SidecarMeta{ID: sc.ID, Hash: sc.Hash, Types: []recordstream.SidecarType{hederapb.SidecarType_CONTRACT_BYTECODE}}
	}
	plain, err := recordstream.EncodeV6(hapi, start, block, items, metas)
	if err != nil {
		return nil, nil, fmt.Errorf("streamgen: record file %s: %w", name, err)
	}
	rf, err := recordstream.Parse(strings.TrimSuffix(name, ".gz"), plain)
	if err != nil {
		return nil, nil, fmt.Errorf("streamgen: generated record file does not read: %w", err)
	}
	rf.Name = name
	return plain, rf, nil
}

// sign is the node's v6 signature of rf: SHA384withRSA of its file hash
// and of its metadata hash.
func sign(key *rsa.PrivateKey, rf *recordstream.RecordFile) (*recordstream.Signature, error) {
	sig, err := recordstream.Sign(key, rf)
	if err != nil {
		return nil, err
	}
	sig.Name = SignatureName(rf.Name)
	return sig, nil
}

// gzipBytes compresses b with mtime in the header: each node's gzip of the
// same file differs in it, as on the network.
func gzipBytes(b []byte, mtime time.Time) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.ModTime = mtime
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}
