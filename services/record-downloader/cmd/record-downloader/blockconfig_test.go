package main

import (
	"fmt"
	"strings"
	"testing"
)

// The block settings as an operator writes them: presets by network,
// BLOCK_NODES with ports and priorities, and clear refusals.
func TestBlockConfig(t *testing.T) {
	base := func() Config {
		return Config{Network: "mainnet", Cutover: "auto", BlockSource: "auto", BlockConfirm: true}
	}
	for _, c := range []struct {
		name    string
		set     func(*Config)
		buckets string
		nodes   string
		err     string
	}{
		{"mainnet preset on GCS", func(*Config) {}, "[gs://hedera-mainnet-recent-block-streams]", "[]", ""},
		{"testnet preset on BUCKET's cloud", func(c *Config) { c.Network, c.Bucket = "testnet", "s3://mine" }, "[s3://hedera-testnet-recent-block-streams]", "[]", ""},
		{"previewnet", func(c *Config) { c.Network = "previewnet" }, "[gs://hedera-previewnet-recent-block-streams]", "[]", ""},
		{"no preset", func(c *Config) { c.Network, c.Bucket = "integration", "gs://x" }, "[]", "[]", ""},
		{"none", func(c *Config) { c.BlockBuckets = "none" }, "[]", "[]", ""},
		{"both clouds", func(c *Config) { c.BlockBuckets = "gs://a, s3://a" }, "[gs://a s3://a]", "[]", ""},
		{"twice", func(c *Config) { c.BlockBuckets = "gs://a,gs://a" }, "", "", "listed twice"},
		{"not a bucket", func(c *Config) { c.BlockBuckets = "a/b" }, "", "", "BLOCK_BUCKETS"},
		{"nodes", func(c *Config) { c.BlockNodes = "bn1.example.com:40841/1, bn2.example.com, tls://[::1]:5000/0" }, "[gs://hedera-mainnet-recent-block-streams]",
			"[{bn1.example.com:40841 1 false} {bn2.example.com:40840 0 false} {[::1]:5000 0 true}]", ""},
		{"bad priority", func(c *Config) { c.BlockNodes = "bn1:40840/x" }, "", "", "priority"},
		{"bad port", func(c *Config) { c.BlockNodes = "bn1:99999" }, "", "", "port"},
		{"block-node without nodes", func(c *Config) { c.BlockSource = "block-node" }, "", "", "BLOCK_NODES"},
		{"bucket without bucket", func(c *Config) { c.BlockSource, c.BlockBuckets = "bucket", "none" }, "", "", "BLOCK_BUCKETS"},
		{"source", func(c *Config) { c.BlockSource = "file" }, "", "", "BLOCK_SOURCE"},
		{"cutover", func(c *Config) { c.Cutover = "on" }, "", "", "CUTOVER"},
		{"start block", func(c *Config) { c.StartBlock = "-1" }, "", "", "START_BLOCK"},
		{"folder", func(c *Config) { c.BlockNetworkFolder = "../x" }, "", "", "BLOCK_NETWORK_FOLDER"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := base()
			c.set(&cfg)
			s, err := cfg.blockConfig()
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one saying %s", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var buckets []string
			for _, b := range s.buckets {
				buckets = append(buckets, b.String())
			}
			if got := fmt.Sprint(buckets); got != c.buckets {
				t.Errorf("buckets %s, want %s", got, c.buckets)
			}
			if got := fmt.Sprint(s.nodes); got != c.nodes {
				t.Errorf("nodes %s, want %s", got, c.nodes)
			}
		})
	}
}
