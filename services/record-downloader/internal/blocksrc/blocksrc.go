// Package blocksrc is where blocks come from: the block-stream buckets
// (GCS and S3 copies of hedera-<network>-recent-block-streams), read by
// block number without listing, and block nodes over gRPC. Every source
// hands over blocks in number order as the bytes it served, nothing
// decoded: what they hold is judged by the caller.
package blocksrc

import (
	"context"
	"errors"
)

// Block is one block as a source served it.
type Block struct {
	Number uint64
	// Name is the name the block reader gets: the bucket object's path
	// (…/0000/0000/0000/0000/007.blk.zstd, zstd) or, for a block node, the
	// 19-digit plain file name (0000000000000000007.blk). Either carries
	// the number the block's header must have.
	Name string
	// Data is the block as served: zstd from a bucket, the serialized
	// Block from a block node.
	Data []byte
	// Object is the bucket key ("" for a block node).
	Object string
	// Source names where it came from (Source.Name).
	Source string
}

// Source serves blocks by number.
type Source interface {
	// Name is how logs, metrics and events name the source:
	// gs://<bucket>, s3://<bucket>, block-node://<host:port>[,…].
	Name() string
	// Kind is KindBucket or KindBlockNode.
	Kind() Kind
	// Blocks calls fn with blocks from, from+1, … to (inclusive) in
	// order, and returns nil when it reached to or the first block the
	// source does not have yet. An error from fn
	// stops it and is returned.
	Blocks(ctx context.Context, from, to uint64, fn func(Block) error) error
}

// Kind of source.
type Kind string

const (
	KindBucket    Kind = "bucket"
	KindBlockNode Kind = "block-node"
)

// Follow as Blocks' to: as far as the source has blocks.
const Follow = ^uint64(0)

// ErrStop may be returned by fn to end Blocks early without an error.
var ErrStop = errors.New("stop")

// One fetches block n alone: ok is false when the source does not have it.
func One(ctx context.Context, s Source, n uint64) (b Block, ok bool, err error) {
	err = s.Blocks(ctx, n, n, func(got Block) error {
		b, ok = got, true
		return ErrStop
	})
	if errors.Is(err, ErrStop) {
		err = nil
	}
	return b, ok, err
}
