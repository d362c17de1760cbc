// Package blocknode gets blocks from block nodes (HIP-1081) over gRPC:
// it asks a node which blocks it holds (BlockNodeService.serverStatus),
// subscribes from the next block needed
// (BlockStreamSubscribeService.subscribeBlockStream), joins each block's
// item sets until its BlockEnd, and hands every complete block — its number
// and exact bytes, as a .blk file holds them — to the caller, who verifies
// and commits it. After any failure it subscribes again from the next block
// the caller has not accepted, so no block is lost or handed over twice.
//
// Several nodes can be configured, each with a priority. A node that fails
// MaxFailures times in a row, or serves a block the caller rejects, is
// benched for BenchFor. After GiveUpAfter consecutive failures, whatever
// the nodes, Run returns ErrGaveUp, so a caller can fall back to the block
// buckets as the mirror node does. Every call has a deadline: serverStatus
// StatusTimeout, a subscription StallTimeout between responses and
// BlockTimeout for one block.
package blocknode

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	pb "tributary.dev/libs/hederapb/blocknodepb"
)

// Follow is the `to` of a Run that follows the stream forever.
const Follow = math.MaxUint64

// DefaultPort is the block node's gRPC port.
const DefaultPort = 40840

var (
	// ErrBadBlock is what a Handler returns (wrapped or not) for a block
	// that does not verify: the node that served it is benched and the
	// block is asked for again, from another node when there is one.
	ErrBadBlock = errors.New("bad block")
	// ErrGaveUp ends Run after GiveUpAfter consecutive failures.
	ErrGaveUp = errors.New("block nodes: gave up")
)

// Node is one block node.
type Node struct {
	Addr     string // host:port
	Priority int    // lower is preferred; equal priorities keep their order
	TLS      bool   // connect over TLS, checking the node's certificate
}

// Config is the client's; zero durations and counts take the defaults in
// brackets (the mirror node's where it has one).
type Config struct {
	Nodes         []Node
	StatusTimeout time.Duration // deadline of one serverStatus call [5s]
	StallTimeout  time.Duration // longest silence on a subscription [30s]
	BlockTimeout  time.Duration // longest time from a block's header to its end [2m]
	RetryWait     time.Duration // pause after a failure [1s]
	MaxFailures   int           // consecutive failures that bench a node [3]
	BenchFor      time.Duration // how long a benched node rests [1m]
	GiveUpAfter   int           // consecutive failures, any nodes, that end Run [3]
	MaxBlockItems int           // items in one block [800,000]
	MaxBlockBytes int           // bytes of one block [512 MiB]
	MaxMessage    int           // bytes of one gRPC response [32 MiB]
	// RootCAs are the authorities a TLS node's certificate must chain to
	// [nil: the system's].
	RootCAs *x509.CertPool
}

func (c Config) withDefaults() Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	setInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	set(&c.StatusTimeout, 5*time.Second)
	set(&c.StallTimeout, 30*time.Second)
	set(&c.BlockTimeout, 2*time.Minute)
	set(&c.RetryWait, time.Second)
	set(&c.BenchFor, time.Minute)
	setInt(&c.MaxFailures, 3)
	setInt(&c.GiveUpAfter, 3)
	setInt(&c.MaxBlockItems, 800_000)
	setInt(&c.MaxBlockBytes, 512<<20)
	setInt(&c.MaxMessage, 32<<20)
	return c
}

// Block is one complete block as a node sent it.
type Block struct {
	Number uint64
	// Bytes is the serialized Block: each item, exactly as received,
	// written as field 1 (tag 0x0a, length, item bytes). Written as is, it
	// is the block's .blk file.
	Bytes []byte
	Items int
	Node  string // Addr of the node that sent it
}

// Handler verifies and commits one block. It returns nil when the block
// is accepted (the next one is due), an error wrapping ErrBadBlock when
// the block is wrong (it is asked for again), and any other error to stop
// Run (the block is not accepted; Run returns the error).
type Handler func(ctx context.Context, b Block) error

// Client subscribes to the configured nodes. Run is not for concurrent
// use; Close releases the connections.
type Client struct {
	cfg   Config
	nodes []*node // by priority
	log   *zap.Logger
	m     *Metrics
}

type node struct {
	Node
	conn      *grpc.ClientConn
	status    pb.BlockNodeServiceClient
	subscribe pb.BlockStreamSubscribeServiceClient

	mu           sync.Mutex
	failures     int // consecutive
	benchedUntil time.Time
}

// New checks cfg and prepares a connection per node (connections are
// made when first used).
func New(cfg Config, log *zap.Logger, m *Metrics) (*Client, error) {
	if len(cfg.Nodes) == 0 {
		return nil, errors.New("block nodes: none configured")
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	if log == nil {
		log = zap.NewNop()
	}
	cfg = cfg.withDefaults()
	c := &Client{cfg: cfg, log: log, m: m}
	seen := map[string]bool{}
	for _, n := range cfg.Nodes {
		host, port, err := net.SplitHostPort(n.Addr)
		if err != nil || host == "" || port == "" {
			c.Close()
			return nil, fmt.Errorf("block node %q: want host:port (the block node port is %d)", n.Addr, DefaultPort)
		}
		if seen[n.Addr] {
			c.Close()
			return nil, fmt.Errorf("block node %s is configured twice", n.Addr)
		}
		seen[n.Addr] = true
		creds := insecure.NewCredentials()
		if n.TLS {
			creds = credentials.NewTLS(&tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12})
		}
		conn, err := grpc.NewClient(n.Addr,
			grpc.WithTransportCredentials(creds),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(cfg.MaxMessage)),
			// gRPC's default backoff grows to two minutes: a node back
			// from an outage would stay unreachable that long.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 500 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 10 * time.Second},
				MinConnectTimeout: cfg.StatusTimeout,
			}))
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("block node %s: %w", n.Addr, err)
		}
		c.nodes = append(c.nodes, &node{
			Node: n, conn: conn,
			status:    pb.NewBlockNodeServiceClient(conn),
			subscribe: pb.NewBlockStreamSubscribeServiceClient(conn),
		})
		m.Current.WithLabelValues(n.Addr).Set(0)
		m.BenchedUntil.WithLabelValues(n.Addr).Set(0)
	}
	sort.SliceStable(c.nodes, func(i, j int) bool { return c.nodes[i].Priority < c.nodes[j].Priority })
	return c, nil
}

// Close closes every node's connection.
func (c *Client) Close() {
	for _, n := range c.nodes {
		_ = n.conn.Close()
	}
}

// Status is a node's serverStatus answer.
type Status struct {
	First, Last  uint64 // the blocks it holds; Empty when none
	Empty        bool
	NextExpected uint64
}

// Status asks the node at addr (one of the configured ones) which blocks
// it holds, within StatusTimeout.
func (c *Client) Status(ctx context.Context, addr string) (Status, error) {
	for _, n := range c.nodes {
		if n.Addr == addr {
			return c.serverStatus(ctx, n)
		}
	}
	return Status{}, fmt.Errorf("block node %s is not configured", addr)
}

func (c *Client) serverStatus(ctx context.Context, n *node) (Status, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.StatusTimeout)
	defer cancel()
	r, err := n.status.ServerStatus(ctx, &pb.ServerStatusRequest{})
	if err != nil {
		return Status{}, fmt.Errorf("block node %s: serverStatus: %w", n.Addr, err)
	}
	// The block node reports first = 2^64-1 (-1 as a Java long) when it
	// holds nothing.
	empty := r.FirstAvailableBlock == math.MaxUint64 || r.FirstAvailableBlock > r.LastAvailableBlock
	return Status{First: r.FirstAvailableBlock, Last: r.LastAvailableBlock, Empty: empty, NextExpected: r.NextExpectedBlock}, nil
}

// failure is one failed attempt: the node (nil: none could be tried) and
// what kind of failure it was, for the metric.
type failure struct {
	node  *node
	kind  string
	bench bool // bench the node at once (it served a bad block)
	err   error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// handlerError is the Handler's own error, which ends Run.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// Run hands blocks from..to (to = Follow: without end) to h, in order,
// each once it is complete, until block to has been accepted (it returns
// to+1, nil), ctx ends (ctx.Err()), h fails with anything but ErrBadBlock
// (that error), or GiveUpAfter attempts in a row fail (an error wrapping
// ErrGaveUp and the last failure). next is always the first block h has
// not accepted: where a caller carries on, from a bucket or a later Run.
func (c *Client) Run(ctx context.Context, from, to uint64, h Handler) (next uint64, err error) {
	next = from
	failures := 0
	for to == Follow || next <= to {
		if err := ctx.Err(); err != nil {
			return next, err
		}
		var f *failure
		n, err := c.pick(ctx, next)
		if err == nil {
			var accepted int
			accepted, err = c.stream(ctx, n, &next, to, h)
			if accepted > 0 {
				failures = 0
			}
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return next, ctx.Err()
		}
		var he *handlerError
		if errors.As(err, &he) {
			return next, he.err
		}
		if !errors.As(err, &f) {
			f = &failure{kind: "stream", err: err}
		}
		c.failed(f)
		failures++
		if failures >= c.cfg.GiveUpAfter {
			c.m.GaveUp.Inc()
			c.log.Error("giving up on block nodes", zap.Uint64("next_block", next), zap.Int("failures", failures), zap.Error(f))
			return next, fmt.Errorf("%w after %d consecutive failures at block %d; last: %w", ErrGaveUp, failures, next, f)
		}
		select {
		case <-ctx.Done():
			return next, ctx.Err()
		case <-time.After(c.cfg.RetryWait):
		}
	}
	return next, nil
}

// pick is the node to subscribe to for block next: the first by priority
// that is not benched and holds next (or is at its tip, next = last+1);
// failing that, a benched one that holds it, readmitted early, as the
// mirror node does, so that benching never stops the stream by itself.
func (c *Client) pick(ctx context.Context, next uint64) (*node, error) {
	var benched []*node
	var why []string
	for _, n := range c.nodes {
		if n.isBenched(time.Now()) {
			benched = append(benched, n)
			continue
		}
		ok, err := c.holds(ctx, n, next)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			c.failed(&failure{node: n, kind: "status", err: err})
			why = append(why, err.Error())
			continue
		}
		if ok {
			return n, nil
		}
		why = append(why, fmt.Sprintf("%s does not hold it", n.Addr))
	}
	for _, n := range benched {
		if ok, err := c.holds(ctx, n, next); err == nil && ok {
			c.log.Info("readmitting a benched block node early: no other node holds the block", zap.String("node", n.Addr), zap.Uint64("block", next))
			n.readmit()
			c.m.BenchedUntil.WithLabelValues(n.Addr).Set(0)
			return n, nil
		}
		why = append(why, fmt.Sprintf("%s is benched", n.Addr))
	}
	return nil, &failure{kind: "unavailable", err: fmt.Errorf("no block node can serve block %d: %s", next, strings.Join(why, "; "))}
}

func (c *Client) holds(ctx context.Context, n *node, next uint64) (bool, error) {
	st, err := c.serverStatus(ctx, n)
	if err != nil {
		return false, err
	}
	return !st.Empty && next >= st.First && next <= st.Last+1, nil
}

// stream runs one subscription to n from *next, handing each complete
// block to h and moving *next past each one h accepts. It returns how many
// were accepted and nil when the node ended the stream cleanly after
// sending something, or when block to has been accepted.
func (c *Client) stream(ctx context.Context, n *node, next *uint64, to uint64, h Handler) (accepted int, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.m.Current.WithLabelValues(n.Addr).Set(1)
	defer c.m.Current.WithLabelValues(n.Addr).Set(0)
	c.log.Info("subscribing to block node", zap.String("node", n.Addr), zap.Uint64("from", *next))

	fail := func(kind string, err error) (int, error) {
		return accepted, &failure{node: n, kind: kind, err: fmt.Errorf("block node %s, block %d: %w", n.Addr, *next, err)}
	}
	sub, err := n.subscribe.SubscribeBlockStream(sctx, &pb.SubscribeStreamRequest{StartBlockNumber: *next, EndBlockNumber: to})
	if err != nil {
		return fail("connect", err)
	}
	asm := assembler{next: *next, maxItems: c.cfg.MaxBlockItems, maxBytes: c.cfg.MaxBlockBytes}
	var (
		timedOut   atomic.Value // the deadline that fired, as a string
		blockStart time.Time
	)
	for {
		wait, what := c.cfg.StallTimeout, fmt.Sprintf("no response for %s", c.cfg.StallTimeout)
		if asm.open {
			if left := c.cfg.BlockTimeout - time.Since(blockStart); left < wait {
				wait, what = max(left, 0), fmt.Sprintf("block not finished within %s", c.cfg.BlockTimeout)
			}
		}
		watchdog := time.AfterFunc(wait, func() { timedOut.Store(what); cancel() })
		resp, err := sub.Recv()
		watchdog.Stop()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return accepted, ctx.Err()
			case timedOut.Load() != nil:
				return fail("stall", errors.New(timedOut.Load().(string)))
			case errors.Is(err, io.EOF):
				return c.ended(n, next, accepted, asm.open, "the stream ended without a status")
			}
			return fail("stream", err)
		}
		switch r := resp.Response.(type) {
		case *pb.SubscribeStreamResponse_BlockItems:
			wasOpen := asm.open
			if err := asm.add(r.BlockItems.GetBlockItems()); err != nil {
				var tl *tooLargeError
				if errors.As(err, &tl) {
					return fail("too_large", err)
				}
				return fail("protocol", err)
			}
			if !wasOpen && asm.open {
				blockStart = time.Now()
			}
		case *pb.SubscribeStreamResponse_EndOfBlock:
			b, err := asm.end(r.EndOfBlock.GetBlockNumber())
			if err != nil {
				return fail("protocol", err)
			}
			b.Node = n.Addr
			c.m.Blocks.WithLabelValues(n.Addr).Inc()
			c.m.Bytes.WithLabelValues(n.Addr).Add(float64(len(b.Bytes)))
			if err := h(ctx, b); err != nil {
				if errors.Is(err, ErrBadBlock) {
					return accepted, &failure{node: n, kind: "bad_block", bench: true, err: fmt.Errorf("block node %s served a bad block %d: %w", n.Addr, b.Number, err)}
				}
				return accepted, &handlerError{err}
			}
			accepted++
			*next = b.Number + 1
			n.succeeded()
			if to != Follow && *next > to {
				return accepted, nil
			}
		case *pb.SubscribeStreamResponse_Status:
			if r.Status == pb.SubscribeStreamResponse_SUCCESS {
				return c.ended(n, next, accepted, asm.open, "the node ended the stream (SUCCESS)")
			}
			return fail("refused", fmt.Errorf("status %s", r.Status))
		default:
			return fail("protocol", fmt.Errorf("a response with no content the client knows"))
		}
	}
}

// ended is a stream the node closed before block to: no failure when it
// sent whole blocks first (subscribe again from the next), else one.
func (c *Client) ended(n *node, next *uint64, accepted int, open bool, how string) (int, error) {
	switch {
	case open:
		return accepted, &failure{node: n, kind: "ended", err: fmt.Errorf("block node %s, block %d: %s in the middle of the block", n.Addr, *next, how)}
	case accepted == 0:
		return accepted, &failure{node: n, kind: "ended", err: fmt.Errorf("block node %s, block %d: %s before sending it", n.Addr, *next, how)}
	}
	c.log.Info("block node ended the subscription; subscribing again", zap.String("node", n.Addr), zap.Uint64("next_block", *next), zap.String("how", how))
	return accepted, nil
}

// failed counts f and benches its node when it has failed MaxFailures
// times in a row or served a bad block.
func (c *Client) failed(f *failure) {
	addr := "none"
	if f.node != nil {
		addr = f.node.Addr
	}
	c.m.Failures.WithLabelValues(addr, f.kind).Inc()
	c.log.Warn("block node attempt failed", zap.String("node", addr), zap.String("kind", f.kind), zap.Error(f.err))
	if f.node == nil {
		return
	}
	if until, benched := f.node.fail(f.bench, c.cfg.MaxFailures, c.cfg.BenchFor); benched {
		c.m.BenchedUntil.WithLabelValues(addr).Set(float64(until.UnixNano()) / 1e9)
		c.log.Warn("benching block node", zap.String("node", addr), zap.Time("until", until), zap.String("after", f.kind))
	}
}

func (n *node) isBenched(now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return now.Before(n.benchedUntil)
}

func (n *node) fail(now bool, maxFailures int, rest time.Duration) (until time.Time, benched bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.failures++
	if !now && n.failures < maxFailures {
		return time.Time{}, false
	}
	n.failures = 0
	n.benchedUntil = time.Now().Add(rest)
	return n.benchedUntil, true
}

func (n *node) succeeded() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.failures = 0
}

func (n *node) readmit() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.benchedUntil = time.Time{}
	n.failures = 0
}
