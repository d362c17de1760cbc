package blocksrc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"tributary.dev/libs/blockstream"
	"tributary.dev/services/record-downloader/internal/blocknode"
)

// Nodes is the configured block nodes as one source: the client picks a
// node by priority, benches failing ones and resumes from the next block
// after any failure; after GiveUpAfter consecutive failures it gives up
// (ErrGaveUp), and the caller may fall back to the buckets.
type Nodes struct {
	client *blocknode.Client
	addrs  []string
}

// NewNodes wraps a client over addrs (the configured nodes).
func NewNodes(c *blocknode.Client, addrs []string) *Nodes {
	return &Nodes{client: c, addrs: addrs}
}

func (n *Nodes) Name() string { return "block-node://" + strings.Join(n.addrs, ",") }

func (n *Nodes) Kind() Kind { return KindBlockNode }

// ErrGaveUp: the block nodes failed GiveUpAfter times in a row.
var ErrGaveUp = blocknode.ErrGaveUp

// Blocks subscribes from from to to; with to = Follow, to the newest
// block a node holds now, so that a pass ends. A block no node holds yet
// ends it without an error.
func (n *Nodes) Blocks(ctx context.Context, from, to uint64, fn func(Block) error) error {
	last, any, err := n.newest(ctx)
	if err != nil {
		return err
	}
	if !any || last < from {
		return nil
	}
	if to == Follow || to > last {
		to = last
	}
	_, err = n.client.Run(ctx, from, to, func(_ context.Context, b blocknode.Block) error {
		return fn(Block{Number: b.Number, Name: blockstream.FileName(b.Number, blockstream.Plain), Data: b.Bytes,
			Source: n.Name()})
	})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// newest is the highest block any node holds; it fails only when no node
// answered.
func (n *Nodes) newest(ctx context.Context) (last uint64, any bool, err error) {
	var errs []error
	answered := false
	for _, a := range n.addrs {
		st, err := n.client.Status(ctx, a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		answered = true
		if !st.Empty && (!any || st.Last > last) {
			last, any = st.Last, true
		}
	}
	if !answered {
		return 0, false, fmt.Errorf("no block node answered serverStatus: %w", errors.Join(errs...))
	}
	return last, any, nil
}
