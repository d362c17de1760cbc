// Package blockgen writes block streams for tests, benchmarks and the
// development stack: blocks of transactions under either root-hash
// algorithm (by the HAPI version they carry), and wrapped record blocks of
// the record files libs/recordstream/streamgen writes, signed by that
// network's nodes. Every block is read back and hashed by
// libs/blockstream before it is handed out, and consecutive blocks chain,
// so what the generator writes is what the real files' reader accepts.
//
// What generated blocks do not carry: a real TSS signature (the proof is a
// TSS-shaped 2920 bytes that no key made, or the 48-byte placeholder of a
// network with TSS off), EVM results and trace data (their messages are not
// in the repository's protobuf subset), and meaningful state values (each
// transaction changes its payer's account entry, with opaque bytes).
package blockgen

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/streamgen"
	"tributary.dev/libs/recordstream/txgen"
)

// Options shape a generated block stream. Zero values take the defaults.
type Options struct {
	// Start is the first block's timestamp (default 2026-12-09T00:00:00Z).
	Start time.Time
	// Interval is the time from one block to the next (default 2s).
	Interval time.Duration
	// Transactions is the number of transactions with a record per block
	// (default 10); each round also carries a state signature transaction,
	// which has none.
	Transactions int
	// FirstBlock is the first block's number (default 0).
	FirstBlock uint64
	// PreviousRoot is the first block's previous root hash: the empty hash
	// for block 0 (the default), the anchor's root otherwise.
	PreviousRoot *blockstream.Hash
	// HAPI is the version the blocks carry, which selects the root-hash
	// algorithm (default 0.80.0: sixteen leaves; 0.73.0 gives eight).
	HAPI blockstream.Version
	// Placeholder writes the 48-byte SHA-384(root) proof of a network with
	// TSS off instead of a TSS-shaped signature.
	Placeholder bool
	// Seed makes the contents reproducible (default 1).
	Seed uint64
}

func (o Options) withDefaults() Options {
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 12, 9, 0, 0, 0, 0, time.UTC)
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Transactions <= 0 {
		o.Transactions = 10
	}
	if o.HAPI == (blockstream.Version{}) {
		o.HAPI = blockstream.Version{Major: 0, Minor: 80, Patch: 0}
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Block is one generated block.
type Block struct {
	Number uint64
	Time   time.Time
	// Plain is the serialized Block (a .blk file's bytes).
	Plain []byte
	// Root is its root hash under Algorithm, computed by libs/blockstream.
	Root      blockstream.Hash
	Algorithm blockstream.Algorithm
	// Transactions is the number of transaction results.
	Transactions int
	Wrapped      bool
}

// ObjectPath is the block's path below a bucket's <network>/block/.
func (b *Block) ObjectPath() string { return blockstream.ObjectPath(b.Number, blockstream.Zstd) }

var encoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(fmt.Sprintf("zstd encoder: %v", err))
	}
	return e
})

// Zstd is the block as the buckets store it (.blk.zstd).
func (b *Block) Zstd() []byte { return encoder().EncodeAll(b.Plain, nil) }

// Generator writes the consecutive blocks of one stream. Not safe for
// concurrent use.
type Generator struct {
	opts   Options
	rng    *rand.Rand
	number uint64
	next   time.Time
	prev   blockstream.Hash
	round  uint64
	ledger []byte
}

// New starts a stream.
func New(o Options) *Generator {
	o = o.withDefaults()
	g := &Generator{opts: o, rng: rand.New(rand.NewPCG(o.Seed, 0x626c6f636b67656e)), number: o.FirstBlock, next: o.Start.UTC(), prev: blockstream.EmptyHash, round: 1000 * (o.FirstBlock + 1)}
	if o.PreviousRoot != nil {
		g.prev = *o.PreviousRoot
	}
	id := sha512.Sum384(binary.LittleEndian.AppendUint64([]byte("blockgen ledger "), o.Seed))
	g.ledger = id[:blockstream.LedgerIDSize]
	return g
}

// Ledger is the ledger id the stream's TSS-shaped proofs claim: configure a
// verifier with it to see them reported as structure-checked.
func (g *Generator) Ledger() *blockstream.Ledger {
	return &blockstream.Ledger{ID: bytes.Clone(g.ledger), Source: "blockgen"}
}

// NextNumber is the number the next block will have.
func (g *Generator) NextNumber() uint64 { return g.number }

// PreviousRoot is the root hash the next block will name as its previous.
func (g *Generator) PreviousRoot() blockstream.Hash { return g.prev }

// Next writes the stream's next block: a header, then rounds of events of
// transactions (each a signed transaction, its result, an output for an
// account creation and the payer's state change), a state signature
// transaction per round, a footer naming the previous block's root and a
// proof.
func (g *Generator) Next() (*Block, error) {
	o := g.opts
	n := g.number
	ts := g.next
	records := txgen.Items(o.Transactions, int64(o.Seed)+int64(n), ts.Add(time.Millisecond))
	w := writer{buf: make([]byte, 0, 64+o.Transactions*1100)}

	w.item(blockstream.KindBlockHeader, g.header(n, ts))
	const perEvent, eventsPerRound = 20, 10
	for i := 0; i < len(records); {
		g.round++
		w.item(blockstream.KindRoundHeader, protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), g.round))
		for e := 0; e < eventsPerRound && i < len(records); e++ {
			w.item(blockstream.KindEventHeader, g.eventHeader(e, ts))
			for k := 0; k < perEvent && i < len(records); k, i = k+1, i+1 {
				if err := g.transaction(&w, records[i]); err != nil {
					return nil, fmt.Errorf("blockgen: block %d transaction %d: %w", n, i, err)
				}
			}
		}
		w.item(blockstream.KindSignedTransaction, g.stateSignature())
	}
	w.item(blockstream.KindBlockFooter, g.footer())
	return g.finish(&w, n, ts, len(records), false, func(root blockstream.Hash) []byte { return g.tssProof(n, root) })
}

// Wrap writes the wrapped record block of a streamgen record file: its
// header (the file's HAPI version, its block number, its first consensus
// time), the record file with its sidecars, a footer naming the previous
// block's root, and a signed record file proof holding the file signature
// of every node of net (as each serves it: a node set to serve a forged
// signature signs wrongly here too). The file's block number must be the
// next number of the stream.
func (g *Generator) Wrap(net *streamgen.Network, f *streamgen.File) (*Block, error) {
	rf := f.Record
	if rf.Version != 6 || uint64(rf.BlockNumber) != g.number {
		return nil, fmt.Errorf("blockgen: wrap %s: v%d file of block %d, the stream is at block %d", f.Name, rf.Version, rf.BlockNumber, g.number)
	}
	n := g.number
	w := writer{buf: make([]byte, 0, len(f.Plain)+4096)}
	hapi := blockstream.Version{Major: rf.HAPI.Major, Minor: rf.HAPI.Minor, Patch: rf.HAPI.Patch}
	start := time.Unix(0, rf.ConsensusStart).UTC()
	w.item(blockstream.KindBlockHeader, headerBytes(hapi, blockstream.Version{}, n, start))

	var item []byte
	item = protowire.AppendTag(item, 1, protowire.BytesType)
	item = protowire.AppendBytes(item, timestampBytes(f.Consensus))
	item = protowire.AppendTag(item, 2, protowire.BytesType)
	item = protowire.AppendBytes(item, f.Plain[4:]) // the RecordStreamFile as the node wrote it
	for _, sc := range f.Sidecars {
		item = protowire.AppendTag(item, 3, protowire.BytesType)
		item = protowire.AppendBytes(item, sc.Plain)
	}
	w.item(blockstream.KindRecordFile, item)
	w.item(blockstream.KindBlockFooter, g.footer())

	proof := &hederapb.SignedRecordFileProof{Version: 6}
	for _, node := range net.Nodes {
		raw, err := f.SignatureBytes(node.Account)
		if err != nil {
			return nil, fmt.Errorf("blockgen: wrap %s: %w", f.Name, err)
		}
		sig, err := recordstream.ParseSignature(streamgen.SignatureName(f.Name), raw)
		if err != nil {
			return nil, fmt.Errorf("blockgen: wrap %s: node %s's signature: %w", f.Name, node.Account, err)
		}
		proof.RecordFileSignatures = append(proof.RecordFileSignatures, &hederapb.RecordFileSignature{SignaturesBytes: sig.FileSignature, NodeId: uint32(node.NodeID)})
	}
	proofBytes, err := marshal(&hederapb.BlockProof{Block: n, Proof: &hederapb.BlockProof_SignedRecordFileProof{SignedRecordFileProof: proof}})
	if err != nil {
		return nil, err
	}
	g.next = start.Add(g.opts.Interval)
	return g.finish(&w, n, start, len(rf.Items), true, func(blockstream.Hash) []byte { return proofBytes })
}

// finish appends the proof, reads the block back with libs/blockstream
// and moves the stream on.
func (g *Generator) finish(w *writer, n uint64, ts time.Time, txs int, wrapped bool, proof func(blockstream.Hash) []byte) (*Block, error) {
	// The proof is not hashed: hash the block without it first.
	body := len(w.buf)
	w.item(blockstream.KindBlockProof, proof(blockstream.Hash{}))
	b, err := blockstream.NewReader(blockstream.DefaultLimits).ParsePlain(blockstream.FileName(n, blockstream.Plain), w.buf)
	if err != nil {
		return nil, fmt.Errorf("blockgen: generated block %d does not read: %w", n, err)
	}
	root, alg, err := b.RootHash()
	if err != nil {
		return nil, fmt.Errorf("blockgen: generated block %d: %w", n, err)
	}
	w.buf = w.buf[:body]
	w.item(blockstream.KindBlockProof, proof(root))
	g.prev = root
	g.number++
	if !wrapped {
		g.next = ts.Add(g.opts.Interval)
	}
	return &Block{Number: n, Time: ts, Plain: w.buf, Root: root, Algorithm: alg, Transactions: txs, Wrapped: wrapped}, nil
}

// writer appends block items.
type writer struct{ buf []byte }

func (w *writer) item(k blockstream.Kind, payload []byte) {
	w.buf = protowire.AppendTag(w.buf, 1, protowire.BytesType)
	w.buf = protowire.AppendVarint(w.buf, uint64(protowire.SizeTag(protowire.Number(k))+protowire.SizeBytes(len(payload))))
	w.buf = protowire.AppendTag(w.buf, protowire.Number(k), protowire.BytesType)
	w.buf = protowire.AppendBytes(w.buf, payload)
}

func marshal(m proto.Message) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("blockgen: %w", err)
	}
	return b, nil
}

func timestampBytes(t time.Time) []byte {
	var b []byte
	if s := t.Unix(); s != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(s))
	}
	if ns := t.Nanosecond(); ns != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(ns))
	}
	return b
}

func versionBytes(v blockstream.Version) []byte {
	var b []byte
	for i, x := range []int32{v.Major, v.Minor, v.Patch} {
		if x != 0 {
			b = protowire.AppendTag(b, protowire.Number(i+1), protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(x))
		}
	}
	for i, s := range []string{v.Pre, v.Build} {
		if s != "" {
			b = protowire.AppendTag(b, protowire.Number(i+4), protowire.BytesType)
			b = protowire.AppendString(b, s)
		}
	}
	return b
}

func headerBytes(hapi, software blockstream.Version, n uint64, ts time.Time) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, versionBytes(hapi))
	if software != (blockstream.Version{}) {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, versionBytes(software))
	}
	if n != 0 {
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, n)
	}
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	return protowire.AppendBytes(b, timestampBytes(ts))
}

func (g *Generator) header(n uint64, ts time.Time) []byte {
	software := g.opts.HAPI
	software.Build = "0"
	return headerBytes(g.opts.HAPI, software, n, ts)
}

func (g *Generator) random(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	return b
}

func (g *Generator) eventHeader(e int, ts time.Time) []byte {
	var core []byte
	core = protowire.AppendTag(core, 1, protowire.VarintType)
	core = protowire.AppendVarint(core, uint64(e%4))
	core = protowire.AppendTag(core, 2, protowire.VarintType)
	core = protowire.AppendVarint(core, g.round)
	core = protowire.AppendTag(core, 3, protowire.BytesType)
	core = protowire.AppendBytes(core, timestampBytes(ts))
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, core)
	for p := 0; p < 2; p++ {
		var desc []byte
		desc = protowire.AppendTag(desc, 1, protowire.BytesType)
		desc = protowire.AppendBytes(desc, g.random(blockstream.HashSize))
		desc = protowire.AppendTag(desc, 2, protowire.VarintType)
		desc = protowire.AppendVarint(desc, uint64(p))
		var ref []byte
		ref = protowire.AppendTag(ref, 1, protowire.BytesType)
		ref = protowire.AppendBytes(ref, desc)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, ref)
	}
	return b
}

// stateSignature is a node's state signature: a system transaction
// (TransactionBody field 65) that no result follows.
func (g *Generator) stateSignature() []byte {
	var sst []byte
	sst = protowire.AppendTag(sst, 1, protowire.VarintType)
	sst = protowire.AppendVarint(sst, g.round)
	sst = protowire.AppendTag(sst, 2, protowire.BytesType)
	sst = protowire.AppendBytes(sst, g.random(384))
	sst = protowire.AppendTag(sst, 3, protowire.BytesType)
	sst = protowire.AppendBytes(sst, g.random(blockstream.HashSize))
	var body []byte
	body = protowire.AppendTag(body, 65, protowire.BytesType)
	body = protowire.AppendBytes(body, sst)
	var signed []byte
	signed = protowire.AppendTag(signed, 1, protowire.BytesType)
	return protowire.AppendBytes(signed, body)
}

// transaction writes one txgen item as the block stream carries it.
func (g *Generator) transaction(w *writer, it recordstream.Item) error {
	var signed []byte
	for b := it.Transaction; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return protowire.ParseError(m)
		}
		if num == 5 { // Transaction.signedTransactionBytes
			signed, _ = protowire.ConsumeBytes(b[n:])
		}
		b = b[n+m:]
	}
	if signed == nil {
		return fmt.Errorf("transaction without signed transaction bytes")
	}
	var rec hederapb.TransactionRecord
	if err := proto.Unmarshal(it.Record, &rec); err != nil {
		return err
	}
	res := &hederapb.TransactionResult{
		Status:                     rec.GetReceipt().GetStatus(),
		ConsensusTimestamp:         rec.GetConsensusTimestamp(),
		ParentConsensusTimestamp:   rec.GetParentConsensusTimestamp(),
		ScheduleRef:                rec.GetScheduleRef(),
		TransactionFeeCharged:      rec.GetTransactionFee(),
		TransferList:               rec.GetTransferList(),
		TokenTransferLists:         rec.GetTokenTransferLists(),
		AutomaticTokenAssociations: rec.GetAutomaticTokenAssociations(),
		PaidStakingRewards:         rec.GetPaidStakingRewards(),
		AssessedCustomFees:         rec.GetAssessedCustomFees(),
	}
	result, err := marshal(res)
	if err != nil {
		return err
	}
	w.item(blockstream.KindSignedTransaction, signed)
	w.item(blockstream.KindTransactionResult, result)
	if created := rec.GetReceipt().GetAccountID(); created != nil {
		out, err := marshal(&hederapb.TransactionOutput{Transaction: &hederapb.TransactionOutput_AccountCreate{AccountCreate: &hederapb.CreateAccountOutput{CreatedAccountId: created}}})
		if err != nil {
			return err
		}
		w.item(blockstream.KindTransactionOutput, out)
	}
	payer := rec.GetTransactionID().GetAccountID()
	changes, err := marshal(&hederapb.StateChanges{
		ConsensusTimestamp: rec.GetConsensusTimestamp(),
		StateChanges: []*hederapb.StateChange{{
			StateId: uint32(hederapb.StateIdentifier_STATE_ID_ACCOUNTS),
			ChangeOperation: &hederapb.StateChange_MapUpdate{MapUpdate: &hederapb.MapUpdateChange{
				Key:   &hederapb.MapChangeKey{KeyChoice: &hederapb.MapChangeKey_AccountIdKey{AccountIdKey: payer}},
				Value: &hederapb.MapChangeValue{ValueChoice: &hederapb.MapChangeValue_AccountValue{AccountValue: g.random(96)}},
			}},
		}},
	})
	if err != nil {
		return err
	}
	w.item(blockstream.KindStateChanges, changes)
	return nil
}

func (g *Generator) footer() []byte {
	all := sha512.Sum384(append([]byte("all block hashes "), g.prev[:]...))
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, g.prev[:])
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, all[:])
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	return protowire.AppendBytes(b, g.random(blockstream.HashSize))
}

// tssProof is the block's proof: the placeholder over root, or a
// TSS-shaped signature (hinTS key, BLS aggregate, Schnorr proof: 2920
// bytes) that no key made.
func (g *Generator) tssProof(n uint64, root blockstream.Hash) []byte {
	var sig []byte
	if g.opts.Placeholder {
		s := sha512.Sum384(root[:])
		sig = s[:]
	} else {
		// Deterministic per block and independent of the root, so that the
		// size is known before the root is.
		r := rand.New(rand.NewPCG(g.opts.Seed, n))
		sig = make([]byte, 1096+1632+192)
		for i := range sig {
			sig[i] = byte(r.Uint32())
		}
	}
	var tss []byte
	tss = protowire.AppendTag(tss, 1, protowire.BytesType)
	tss = protowire.AppendBytes(tss, sig)
	var p []byte
	if n != 0 {
		p = protowire.AppendTag(p, 1, protowire.VarintType)
		p = protowire.AppendVarint(p, n)
	}
	p = protowire.AppendTag(p, 2, protowire.BytesType)
	return protowire.AppendBytes(p, tss)
}
