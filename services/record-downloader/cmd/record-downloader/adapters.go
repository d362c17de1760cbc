package main

import (
	"crypto/x509"
	"fmt"
	"os"
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
func (cfg *Config) blockNodes(refs []nodeRef, env *setup.Env) (blocksrc.Source, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	stall := time.Duration(cfg.BlockNodeStall) * time.Second
	bc := blocknode.Config{StallTimeout: stall, BlockTimeout: max(2*stall, 2*time.Minute)}
	var addrs []string
	for _, r := range refs {
		bc.Nodes = append(bc.Nodes, blocknode.Node{Addr: r.addr, Priority: r.priority, TLS: r.tls})
		addrs = append(addrs, r.addr)
	}
	if cfg.BlockNodeCA != "" {
		pem, err := os.ReadFile(cfg.BlockNodeCA)
		if err != nil {
			return nil, fmt.Errorf("BLOCK_NODE_CA: %w", err)
		}
		bc.RootCAs = x509.NewCertPool()
		if !bc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("BLOCK_NODE_CA: %s holds no PEM certificate", cfg.BlockNodeCA)
		}
	}
	c, err := blocknode.New(bc, env.Log, blocknode.NewMetrics(env.Metrics))
	if err != nil {
		return nil, fmt.Errorf("BLOCK_NODES: %w", err)
	}
	env.OnClose("block nodes", c.Close)
	return blocksrc.NewNodes(c, addrs), nil
}
