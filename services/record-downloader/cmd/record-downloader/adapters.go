package main

import (
	"context"
	"errors"

	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/setup"
	"tributary.dev/services/record-downloader/internal/blocks"
	"tributary.dev/services/record-downloader/internal/blocksrc"
)

// wrappedHasher rebuilds a wrapped record block's record file and checks
// its node signatures with the book in force.
func wrappedHasher(books *recordstream.BookHistory, th recordstream.Threshold) blocks.WrappedHasher {
	return nil
}

// blockNodes is the block-node source over BLOCK_NODES (nil without).
func blockNodes(ctx context.Context, refs []nodeRef, env *setup.Env) (blocksrc.Source, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	return nil, errors.New("BLOCK_NODES: no block node client in this build")
}
