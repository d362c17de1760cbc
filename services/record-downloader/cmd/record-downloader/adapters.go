package main

import (
	"fmt"
	"time"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/setup"
	"tributary.dev/services/record-downloader/internal/blocknode"
	"tributary.dev/services/record-downloader/internal/blocksrc"
)

// blockVerifier verifies each block's proof as far as it can be: wrapped
// record blocks' record files against the address books in force and
// CONSENSUS_RATIO, TSS signatures by their structure for LEDGER_ID.
func (cfg *Config) blockVerifier(books *recordstream.BookHistory, th recordstream.Threshold) (*blockstream.ProofVerifier, error) {
	v := &blockstream.ProofVerifier{Books: books, Threshold: th, AllowPlaceholder: cfg.BlockTSSPlaceholder}
	if cfg.LedgerID != "" {
		l, err := blockstream.ParseLedgerID(cfg.LedgerID, "LEDGER_ID")
		if err != nil {
			return nil, fmt.Errorf("LEDGER_ID: %w", err)
		}
		v.Ledger = l
	}
	return v, nil
}

// blockNodes is the block-node source over BLOCK_NODES (nil without).
func blockNodes(refs []nodeRef, stall time.Duration, env *setup.Env) (blocksrc.Source, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	var nodes []blocknode.Node
	var addrs []string
	for _, r := range refs {
		nodes = append(nodes, blocknode.Node{Addr: r.addr, Priority: r.priority})
		addrs = append(addrs, r.addr)
	}
	c, err := blocknode.New(blocknode.Config{Nodes: nodes, StallTimeout: stall, BlockTimeout: max(2*stall, 2*time.Minute)}, env.Log, blocknode.NewMetrics(env.Metrics))
	if err != nil {
		return nil, fmt.Errorf("BLOCK_NODES: %w", err)
	}
	env.OnClose("block nodes", c.Close)
	return blocksrc.NewNodes(c, addrs), nil
}
