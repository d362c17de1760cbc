package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"tributary.dev/services/record-downloader/internal/blocks"
	"tributary.dev/services/record-downloader/internal/blocksrc"
)

// preset is a public network's buckets: the nodes' record streams and,
// from the cutover on, the block streams (both on GCS and S3 under the
// same names; requester pays).
type preset struct{ records, blocks string }

var presets = map[string]preset{
	"mainnet":    {"hedera-mainnet-streams", "hedera-mainnet-recent-block-streams"},
	"testnet":    {"hedera-testnet-streams-2024-02", "hedera-testnet-recent-block-streams"},
	"previewnet": {"hedera-preview-testnet-streams", "hedera-previewnet-recent-block-streams"},
}

// blockSettings are the block-stream variables, checked.
type blockSettings struct {
	cutover bool
	mode    blocks.Mode
	buckets []bucketRef
	folder  string
	nodes   []nodeRef
	start   *uint64
}

type bucketRef struct{ scheme, name string }

func (b bucketRef) String() string { return b.scheme + "://" + b.name }

// nodeRef is one BLOCK_NODES entry.
type nodeRef struct {
	addr     string // host:port
	priority int
	tls      bool
}

// defaultBlockNodePort is the block node's gRPC port (the mirror node's
// BlockNodeProperties default).
const defaultBlockNodePort = "40840"

// blockConfig reads the block-stream variables.
func (c *Config) blockConfig() (blockSettings, error) {
	var s blockSettings
	var errs []error
	switch c.Cutover {
	case "auto":
		s.cutover = true
	case "off":
	default:
		errs = append(errs, fmt.Errorf("CUTOVER: want auto or off, got %q", c.Cutover))
	}
	mode, err := blocks.ParseMode(c.BlockSource)
	if err != nil {
		errs = append(errs, fmt.Errorf("BLOCK_SOURCE: %w", err))
	}
	s.mode = mode
	switch strings.TrimSpace(c.BlockBuckets) {
	case "none":
	case "":
		if p, ok := presets[c.Network]; ok {
			scheme := "gs"
			if rs, _, err := c.bucket(); err == nil {
				scheme = rs
			}
			s.buckets = []bucketRef{{scheme, p.blocks}}
		}
	default:
		seen := map[string]bool{}
		for _, b := range strings.Split(c.BlockBuckets, ",") {
			scheme, name, err := splitBucket(strings.TrimSpace(b))
			if err != nil {
				errs = append(errs, fmt.Errorf("BLOCK_BUCKETS: %w", err))
				continue
			}
			ref := bucketRef{scheme, name}
			if seen[ref.String()] {
				errs = append(errs, fmt.Errorf("BLOCK_BUCKETS: %s listed twice", ref))
			}
			seen[ref.String()] = true
			s.buckets = append(s.buckets, ref)
		}
	}
	if c.BlockNetworkFolder != "" {
		if err := blocksrc.CheckFolder(c.BlockNetworkFolder); err != nil {
			errs = append(errs, fmt.Errorf("BLOCK_NETWORK_FOLDER: %w", err))
		}
		s.folder = c.BlockNetworkFolder
	}
	for _, n := range strings.Split(c.BlockNodes, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		ref, err := parseNode(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("BLOCK_NODES: %w", err))
			continue
		}
		s.nodes = append(s.nodes, ref)
	}
	if c.StartBlock != "" {
		n, err := strconv.ParseUint(c.StartBlock, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("START_BLOCK: want a block number, got %q", c.StartBlock))
		}
		s.start = &n
	}
	if len(errs) == 0 {
		switch {
		case s.mode == blocks.BlockNodeOnly && len(s.nodes) == 0:
			errs = append(errs, errors.New("BLOCK_SOURCE=block-node needs BLOCK_NODES"))
		case s.mode == blocks.BucketOnly && len(s.buckets) == 0:
			errs = append(errs, fmt.Errorf("BLOCK_SOURCE=bucket needs a block bucket (BLOCK_BUCKETS; NETWORK %q has no preset)", c.Network))
		case s.start != nil && len(s.nodes) == 0 && len(s.buckets) == 0:
			errs = append(errs, errors.New("START_BLOCK needs a block source (BLOCK_BUCKETS or BLOCK_NODES)"))
		}
	}
	return s, errors.Join(errs...)
}

// parseNode reads [tls://]host:port[/priority]; the port defaults to
// 40840.
func parseNode(n string) (nodeRef, error) {
	rest, tls := strings.CutPrefix(n, "tls://")
	addr, prio, hasPrio := strings.Cut(rest, "/")
	ref := nodeRef{addr: addr, tls: tls}
	if hasPrio {
		p, err := strconv.Atoi(prio)
		if err != nil || p < 0 {
			return nodeRef{}, fmt.Errorf("%q: the priority after / must be a number ≥ 0", n)
		}
		ref.priority = p
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, defaultBlockNodePort
	}
	if host == "" || strings.ContainsAny(host, " /") {
		return nodeRef{}, fmt.Errorf("%q: want [tls://]host:port[/priority]", n)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return nodeRef{}, fmt.Errorf("%q: port %q is not a port number", n, port)
	}
	ref.addr = net.JoinHostPort(host, port)
	return ref, nil
}
