package blocknode

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "tributary.dev/libs/hederapb/blocknodepb"
	"tributary.dev/libs/testkit"
	standin "tributary.dev/libs/testkit/blocknode"
)

// Fixture chains: consecutive real blocks with their published values.
var (
	chainCN073 = []string{
		"hiero-block-node/test-blocks/CN_0_73_TSS_WRAPS_LEGACY/0.blk.gz",
		"hiero-block-node/test-blocks/CN_0_73_TSS_WRAPS_LEGACY/1.blk.gz",
		"hiero-block-node/test-blocks/CN_0_73_TSS_WRAPS_LEGACY/2.blk.gz",
		"hiero-block-node/test-blocks/CN_0_73_TSS_WRAPS_LEGACY/3.blk.gz",
	}
	chainMN = []string{
		"hedera-mirror-node/blockstreams/0000/0000/0000/0000/007.blk.zstd",
		"hedera-mirror-node/blockstreams/0000/0000/0000/0000/008.blk.zstd",
	}
)

// published is what a correct client must hand over for a fixture chain:
// per block number, the SHA-384 and item count blockstreams-expected.json
// publishes for its file.
type published struct {
	first, last uint64
	sha         map[uint64]string
	items       map[uint64]int
}

func fixtureNode(t *testing.T, chain []string) (*standin.Server, published) {
	t.Helper()
	exp := testkit.HederaBlocksExpected(t)
	s := testkit.BlockNode(t)
	p := published{sha: map[uint64]string{}, items: map[uint64]int{}}
	for i, rel := range chain {
		e, ok := exp[rel]
		if !ok {
			t.Fatalf("%s is not in blockstreams-expected.json", rel)
		}
		n, err := s.Add(testkit.HederaBlock(t, rel))
		if err != nil || n != e.BlockNumber {
			t.Fatalf("%s: stand-in holds it as block %d (%v); published number %d", rel, n, err, e.BlockNumber)
		}
		p.sha[n], p.items[n] = e.SHA384Uncompressed, e.Items
		if i == 0 {
			p.first = n
		}
		p.last = n
	}
	return s, p
}

// generatedNode holds generated blocks first..last.
func generatedNode(t *testing.T, first, last uint64) *standin.Server {
	t.Helper()
	s := testkit.BlockNode(t)
	for n := first; n <= last; n++ {
		if _, err := s.Add(standin.GenerateBlock(n, 4)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func sha384Hex(b []byte) string {
	h := sha512.Sum384(b)
	return hex.EncodeToString(h[:])
}

// recorder is a Handler that keeps every block handed over and accepts it
// when verify (if set) says so.
type recorder struct {
	mu      sync.Mutex
	offered []Block // every block handed over, accepted or not
	kept    []Block // the accepted ones
	verify  func(Block) error
}

func (r *recorder) handle(_ context.Context, b Block) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.offered = append(r.offered, b)
	if r.verify != nil {
		if err := r.verify(b); err != nil {
			return err
		}
	}
	r.kept = append(r.kept, b)
	return nil
}

// numbers of the accepted blocks, in order.
func (r *recorder) numbers() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []uint64
	for _, b := range r.kept {
		out = append(out, b.Number)
	}
	return out
}

// verifyGenerated accepts a block only when it is exactly the generated
// block of its number: the stand-in for the real verifier on generated
// chains.
func verifyGenerated(b Block) error {
	if !bytes.Equal(b.Bytes, standin.GenerateBlock(b.Number, 4)) {
		return fmt.Errorf("block %d: %w", b.Number, ErrBadBlock)
	}
	return nil
}

// verifyPublished accepts a fixture block only when its SHA-384 is the
// published one.
func verifyPublished(p published) func(Block) error {
	return func(b Block) error {
		if got := sha384Hex(b.Bytes); got != p.sha[b.Number] {
			return fmt.Errorf("block %d: SHA-384 %s, published %s: %w", b.Number, got, p.sha[b.Number], ErrBadBlock)
		}
		return nil
	}
}

func span(first, last uint64) []uint64 {
	var out []uint64
	for n := first; n <= last; n++ {
		out = append(out, n)
	}
	return out
}

// testConfig is quick to fail and retry, so tests run in seconds; the
// timeouts stay long wherever a test does not exercise them.
func testConfig(nodes ...Node) Config {
	return Config{
		Nodes:         nodes,
		StatusTimeout: 5 * time.Second,
		StallTimeout:  30 * time.Second,
		RetryWait:     10 * time.Millisecond,
		BenchFor:      time.Minute,
	}
}

func newClient(t *testing.T, cfg Config) (*Client, *Metrics) {
	t.Helper()
	m := NewMetrics(nil)
	c, err := New(cfg, zaptest.NewLogger(t), m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, m
}

func runCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Real blocks arrive byte for byte as their files hold them, whatever
// size of item sets the node splits them into.
func TestFixtureBlocksByteIdentical(t *testing.T) {
	for _, chain := range [][]string{chainCN073, chainMN} {
		for _, perSet := range []int{0, 1, 7} {
			t.Run(fmt.Sprintf("%s/%d-per-set", chain[0], perSet), func(t *testing.T) {
				s, p := fixtureNode(t, chain)
				s.SetItemsPerSet(perSet)
				c, m := newClient(t, testConfig(Node{Addr: s.Addr()}))
				rec := &recorder{}
				next, err := c.Run(runCtx(t), p.first, p.last, rec.handle)
				if err != nil || next != p.last+1 {
					t.Fatalf("Run = %d, %v; want %d, nil", next, err, p.last+1)
				}
				if got := rec.numbers(); !slices.Equal(got, span(p.first, p.last)) {
					t.Fatalf("blocks %v, want %v", got, span(p.first, p.last))
				}
				for _, b := range rec.kept {
					if got := sha384Hex(b.Bytes); got != p.sha[b.Number] {
						t.Errorf("block %d: SHA-384 %s, published %s", b.Number, got, p.sha[b.Number])
					}
					if b.Items != p.items[b.Number] || b.Node != s.Addr() {
						t.Errorf("block %d: %d items from %s, published %d items, served by %s", b.Number, b.Items, b.Node, p.items[b.Number], s.Addr())
					}
				}
				if got := testutil.ToFloat64(m.Blocks.WithLabelValues(s.Addr())); got != float64(len(chain)) {
					t.Errorf("blocks_total = %v, want %d", got, len(chain))
				}
				if got := testutil.CollectAndCount(m.Failures); got != 0 {
					t.Errorf("%d failure series, want none", got)
				}
			})
		}
	}
}

// A node that dies mid-block, and one that ends a stream mid-block: the
// client subscribes again from the block it has not got, and hands over
// every block once, in order.
func TestResumesAfterNodeDiesMidBlock(t *testing.T) {
	s := generatedNode(t, 100, 119)
	s.SetItemsPerSet(3)
	s.Inject(standin.Fault{Kind: standin.Die, Block: 105, Times: 1})
	s.Inject(standin.Fault{Kind: standin.EndMidBlock, Block: 110, Times: 1})
	s.Inject(standin.Fault{Kind: standin.EndMidBlock, Block: 114, Times: 1, Code: pb.SubscribeStreamResponse_SUCCESS})
	c, m := newClient(t, testConfig(Node{Addr: s.Addr()}))
	rec := &recorder{verify: verifyGenerated}
	next, err := c.Run(runCtx(t), 100, 119, rec.handle)
	if err != nil || next != 120 {
		t.Fatalf("Run = %d, %v; want 120, nil", next, err)
	}
	if got := rec.numbers(); !slices.Equal(got, span(100, 119)) || len(rec.offered) != 20 {
		t.Fatalf("accepted %v of %d offered; want 100..119 each once", got, len(rec.offered))
	}
	want := []standin.Request{{Start: 100, End: 119}, {Start: 105, End: 119}, {Start: 110, End: 119}, {Start: 114, End: 119}}
	if got := s.Requests(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("subscriptions %v, want %v", got, want)
	}
	if a, b := testutil.ToFloat64(m.Failures.WithLabelValues(s.Addr(), "stream")), testutil.ToFloat64(m.Failures.WithLabelValues(s.Addr(), "ended")); a != 1 || b != 2 {
		t.Errorf("failures stream %v ended %v, want 1 and 2", a, b)
	}
}

// A node that goes quiet mid-block is dropped after the stall timeout and
// the client carries on from the next node.
func TestStallSwitchesNode(t *testing.T) {
	a := generatedNode(t, 100, 109)
	b := generatedNode(t, 100, 109)
	a.Inject(standin.Fault{Kind: standin.Stall, Block: 103})
	cfg := testConfig(Node{Addr: a.Addr(), Priority: 0}, Node{Addr: b.Addr(), Priority: 1})
	cfg.StallTimeout = time.Second
	cfg.MaxFailures = 1
	c, m := newClient(t, cfg)
	rec := &recorder{verify: verifyGenerated}
	start := time.Now()
	next, err := c.Run(runCtx(t), 100, 109, rec.handle)
	if err != nil || next != 110 {
		t.Fatalf("Run = %d, %v; want 110, nil", next, err)
	}
	if time.Since(start) < cfg.StallTimeout {
		t.Errorf("Run took %v, less than the stall timeout: the stall was not waited for", time.Since(start))
	}
	if got := rec.numbers(); !slices.Equal(got, span(100, 109)) {
		t.Fatalf("blocks %v, want 100..109 once each", got)
	}
	for _, blk := range rec.kept {
		want := a.Addr()
		if blk.Number >= 103 {
			want = b.Addr()
		}
		if blk.Node != want {
			t.Errorf("block %d from %s, want %s", blk.Number, blk.Node, want)
		}
	}
	if got := testutil.ToFloat64(m.Failures.WithLabelValues(a.Addr(), "stall")); got != 1 {
		t.Errorf("stall failures of a = %v, want 1", got)
	}
	if until := testutil.ToFloat64(m.BenchedUntil.WithLabelValues(a.Addr())); until < float64(time.Now().Unix()) {
		t.Errorf("a benched until %v, want in the future", until)
	}
}

// A block not finished within the block timeout fails too, even while
// items keep coming.
func TestBlockTimeout(t *testing.T) {
	s := generatedNode(t, 100, 101)
	s.Inject(standin.Fault{Kind: standin.Stall, Block: 101})
	cfg := testConfig(Node{Addr: s.Addr()})
	cfg.StallTimeout = time.Minute
	cfg.BlockTimeout = time.Second
	cfg.GiveUpAfter = 1
	c, m := newClient(t, cfg)
	rec := &recorder{verify: verifyGenerated}
	next, err := c.Run(runCtx(t), 100, 101, rec.handle)
	if !errors.Is(err, ErrGaveUp) || next != 101 {
		t.Fatalf("Run = %d, %v; want 101 and ErrGaveUp", next, err)
	}
	if got := testutil.ToFloat64(m.Failures.WithLabelValues(s.Addr(), "stall")); got != 1 {
		t.Errorf("stall failures %v, want 1", got)
	}
}

// A node that serves a wrong block: the block is handed over as it came,
// the caller's verifier rejects it, the node is benched and the block is
// fetched from the next node.
func TestBadBlockBenchesAndSwitches(t *testing.T) {
	liar, p := fixtureNode(t, chainMN)
	honest, _ := fixtureNode(t, chainMN)
	liar.Inject(standin.Fault{Kind: standin.Tamper, Block: 8})
	cfg := testConfig(Node{Addr: liar.Addr()}, Node{Addr: honest.Addr(), Priority: 1})
	c, m := newClient(t, cfg)
	rec := &recorder{verify: verifyPublished(p)}
	next, err := c.Run(runCtx(t), 7, 8, rec.handle)
	if err != nil || next != 9 {
		t.Fatalf("Run = %d, %v; want 9, nil", next, err)
	}
	if len(rec.offered) != 3 {
		t.Fatalf("%d blocks offered, want 7, the bad 8 and the good 8", len(rec.offered))
	}
	bad, good := rec.offered[1], rec.offered[2]
	if bad.Number != 8 || bad.Node != liar.Addr() || sha384Hex(bad.Bytes) == p.sha[8] || len(bad.Bytes) != len(good.Bytes) {
		t.Errorf("bad block: number %d from %s, %d bytes; want 8 from the liar, as it was served (same size, other bytes)", bad.Number, bad.Node, len(bad.Bytes))
	}
	if good.Number != 8 || good.Node != honest.Addr() || sha384Hex(good.Bytes) != p.sha[8] {
		t.Errorf("second block 8 from %s: want the honest node's, with the published hash", good.Node)
	}
	if got := rec.numbers(); !slices.Equal(got, []uint64{7, 8}) {
		t.Errorf("accepted %v, want 7 8", got)
	}
	if got := testutil.ToFloat64(m.Failures.WithLabelValues(liar.Addr(), "bad_block")); got != 1 {
		t.Errorf("bad_block failures %v, want 1", got)
	}
	if until := testutil.ToFloat64(m.BenchedUntil.WithLabelValues(liar.Addr())); until < float64(time.Now().Unix()) {
		t.Errorf("liar benched until %v, want in the future", until)
	}
}

// The preferred node (lowest priority number) is used; after MaxFailures
// in a row it is benched and the next one serves; after the cool-down it
// is preferred again.
func TestPrioritiesAndBenching(t *testing.T) {
	low := generatedNode(t, 100, 109)
	high := generatedNode(t, 100, 109)
	high.Inject(standin.Fault{Kind: standin.Refuse, Block: 100, Code: pb.SubscribeStreamResponse_ERROR, Times: 2})
	cfg := testConfig(Node{Addr: low.Addr(), Priority: 5}, Node{Addr: high.Addr(), Priority: 1})
	cfg.MaxFailures = 2
	cfg.GiveUpAfter = 5
	cfg.BenchFor = 2 * time.Second
	c, m := newClient(t, cfg)
	rec := &recorder{verify: verifyGenerated}
	if next, err := c.Run(runCtx(t), 100, 104, rec.handle); err != nil || next != 105 {
		t.Fatalf("Run = %d, %v; want 105, nil", next, err)
	}
	if got := len(high.Requests()); got != 2 {
		t.Errorf("preferred node got %d subscriptions, want 2 (refused twice, then benched)", got)
	}
	if got := testutil.ToFloat64(m.Failures.WithLabelValues(high.Addr(), "refused")); got != 2 {
		t.Errorf("refused failures %v, want 2", got)
	}
	for _, b := range rec.kept {
		if b.Node != low.Addr() {
			t.Errorf("block %d from %s while the preferred node is benched, want %s", b.Number, b.Node, low.Addr())
		}
	}
	time.Sleep(cfg.BenchFor)
	rec2 := &recorder{verify: verifyGenerated}
	if next, err := c.Run(runCtx(t), 105, 109, rec2.handle); err != nil || next != 110 {
		t.Fatalf("second Run = %d, %v; want 110, nil", next, err)
	}
	for _, b := range rec2.kept {
		if b.Node != high.Addr() {
			t.Errorf("block %d from %s after the cool-down, want the preferred %s", b.Number, b.Node, high.Addr())
		}
	}
}

// With every node benched, one that holds the block is readmitted early
// rather than stopping the stream (as the mirror node does).
func TestBenchedNodeReadmittedWhenAlone(t *testing.T) {
	s := generatedNode(t, 100, 102)
	s.Inject(standin.Fault{Kind: standin.Refuse, Block: 100, Code: pb.SubscribeStreamResponse_NOT_AVAILABLE, Times: 1})
	cfg := testConfig(Node{Addr: s.Addr()})
	cfg.MaxFailures = 1
	c, m := newClient(t, cfg)
	rec := &recorder{verify: verifyGenerated}
	if next, err := c.Run(runCtx(t), 100, 102, rec.handle); err != nil || next != 103 {
		t.Fatalf("Run = %d, %v; want 103, nil", next, err)
	}
	if got := testutil.ToFloat64(m.BenchedUntil.WithLabelValues(s.Addr())); got != 0 {
		t.Errorf("benched until %v after the early readmission, want 0", got)
	}
}

// GiveUpAfter consecutive failures, whichever nodes they are on, end Run
// with ErrGaveUp at the block still needed; failures between successes do
// not add up.
func TestGivesUpAfterThreeConsecutiveFailures(t *testing.T) {
	t.Run("refusing nodes", func(t *testing.T) {
		a := generatedNode(t, 100, 105)
		b := generatedNode(t, 100, 105)
		for _, s := range []*standin.Server{a, b} {
			s.Inject(standin.Fault{Kind: standin.Refuse, Block: 102, Code: pb.SubscribeStreamResponse_ERROR})
		}
		c, m := newClient(t, testConfig(Node{Addr: a.Addr()}, Node{Addr: b.Addr(), Priority: 1}))
		rec := &recorder{verify: verifyGenerated}
		next, err := c.Run(runCtx(t), 100, Follow, rec.handle)
		if !errors.Is(err, ErrGaveUp) || next != 102 {
			t.Fatalf("Run = %d, %v; want 102 and ErrGaveUp", next, err)
		}
		if got := rec.numbers(); !slices.Equal(got, []uint64{100, 101}) {
			t.Errorf("accepted %v, want 100 101", got)
		}
		if got := len(a.Requests()) + len(b.Requests()); got != 3 {
			t.Errorf("%d subscriptions, want 3 (the first, and two more that failed)", got)
		}
		if got := testutil.ToFloat64(m.GaveUp); got != 1 {
			t.Errorf("gave_up_total %v, want 1", got)
		}
	})
	t.Run("no node holds the block", func(t *testing.T) {
		s := generatedNode(t, 100, 105)
		s.ReportRange(200, 300)
		c, m := newClient(t, testConfig(Node{Addr: s.Addr()}))
		next, err := c.Run(runCtx(t), 100, Follow, (&recorder{}).handle)
		if !errors.Is(err, ErrGaveUp) || next != 100 {
			t.Fatalf("Run = %d, %v; want 100 and ErrGaveUp", next, err)
		}
		if got := testutil.ToFloat64(m.Failures.WithLabelValues("none", "unavailable")); got != 3 {
			t.Errorf("unavailable failures %v, want 3", got)
		}
		if got := len(s.Requests()); got != 0 {
			t.Errorf("%d subscriptions to a node that does not hold the block", got)
		}
	})
	t.Run("failures between blocks do not add up", func(t *testing.T) {
		s := generatedNode(t, 100, 110)
		for _, n := range []uint64{101, 103, 105, 107} {
			s.Inject(standin.Fault{Kind: standin.Die, Block: n, Times: 1})
		}
		c, _ := newClient(t, testConfig(Node{Addr: s.Addr()}))
		rec := &recorder{verify: verifyGenerated}
		if next, err := c.Run(runCtx(t), 100, 110, rec.handle); err != nil || next != 111 {
			t.Fatalf("Run = %d, %v; want 111, nil", next, err)
		}
		if got := rec.numbers(); !slices.Equal(got, span(100, 110)) {
			t.Errorf("accepted %v, want 100..110", got)
		}
	})
}

// A node whose serverStatus fails is charged and passed over.
func TestStatusFailurePassesOver(t *testing.T) {
	a := generatedNode(t, 100, 102)
	b := generatedNode(t, 100, 102)
	a.FailStatus(status.Error(codes.Unavailable, "status down"))
	c, m := newClient(t, testConfig(Node{Addr: a.Addr()}, Node{Addr: b.Addr(), Priority: 1}))
	if _, err := c.Status(runCtx(t), a.Addr()); status.Code(err) != codes.Unavailable {
		t.Errorf("Status(a) = %v, want Unavailable", err)
	}
	st, err := c.Status(runCtx(t), b.Addr())
	if err != nil || st.Empty || st.First != 100 || st.Last != 102 {
		t.Errorf("Status(b) = %+v, %v; want 100..102", st, err)
	}
	rec := &recorder{verify: verifyGenerated}
	if next, err := c.Run(runCtx(t), 100, 102, rec.handle); err != nil || next != 103 {
		t.Fatalf("Run = %d, %v; want 103, nil", next, err)
	}
	if got := testutil.ToFloat64(m.Failures.WithLabelValues(a.Addr(), "status")); got != 1 {
		t.Errorf("status failures of a = %v, want 1", got)
	}
	if len(a.Requests()) != 0 || rec.kept[0].Node != b.Addr() {
		t.Errorf("a got %d subscriptions; first block from %s, want b", len(a.Requests()), rec.kept[0].Node)
	}
}

// The handler's own error (not a bad block) stops Run at once, with the
// block not accepted, and is not a node failure.
func TestHandlerErrorStopsRun(t *testing.T) {
	s := generatedNode(t, 100, 105)
	c, m := newClient(t, testConfig(Node{Addr: s.Addr()}))
	diskFull := errors.New("disk full")
	rec := &recorder{verify: func(b Block) error {
		if b.Number == 102 {
			return diskFull
		}
		return nil
	}}
	next, err := c.Run(runCtx(t), 100, 105, rec.handle)
	if !errors.Is(err, diskFull) || next != 102 {
		t.Fatalf("Run = %d, %v; want 102 and the handler's error", next, err)
	}
	if got := testutil.CollectAndCount(m.Failures); got != 0 {
		t.Errorf("%d failure series, want none", got)
	}
}

// Following at the tip: new blocks are handed over as the node gets them,
// and cancelling stops Run promptly with the next block still needed.
func TestFollowsTipAndStopsOnCancel(t *testing.T) {
	s := generatedNode(t, 100, 101)
	c, _ := newClient(t, testConfig(Node{Addr: s.Addr()}))
	ctx, cancel := context.WithCancel(runCtx(t))
	got := make(chan uint64, 10)
	done := make(chan error, 1)
	var next uint64
	go func() {
		var err error
		next, err = c.Run(ctx, 100, Follow, func(_ context.Context, b Block) error {
			if err := verifyGenerated(b); err != nil {
				return err
			}
			got <- b.Number
			return nil
		})
		done <- err
	}()
	for _, want := range []uint64{100, 101} {
		if n := <-got; n != want {
			t.Fatalf("got block %d, want %d", n, want)
		}
	}
	if _, err := s.Add(standin.GenerateBlock(102, 4)); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-got:
		if n != 102 {
			t.Fatalf("got block %d, want 102", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("block 102 was not handed over after the node got it")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || next != 103 {
			t.Errorf("Run = %d, %v; want 103 and context.Canceled", next, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Nodes: []Node{{Addr: "no-port"}}},
		{Nodes: []Node{{Addr: "a:1"}, {Addr: "a:1"}}},
	} {
		if c, err := New(cfg, nil, nil); err == nil {
			c.Close()
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// A node reached over TLS: its certificate must chain to RootCAs, and the
// blocks arrive the same.
func TestTLSNode(t *testing.T) {
	s := standin.New()
	pool, err := s.ListenTLS("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	for n := uint64(100); n <= 102; n++ {
		if _, err := s.Add(standin.GenerateBlock(n, 4)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig(Node{Addr: s.Addr(), TLS: true})
	cfg.RootCAs = pool
	c, _ := newClient(t, cfg)
	rec := &recorder{verify: verifyGenerated}
	if next, err := c.Run(runCtx(t), 100, 102, rec.handle); err != nil || next != 103 {
		t.Fatalf("Run = %d, %v; want 103, nil", next, err)
	}

	// Without the stand-in's certificate among the roots, nothing is taken.
	cfg.RootCAs, cfg.GiveUpAfter = nil, 1
	untrusting, m := newClient(t, cfg)
	if _, err := untrusting.Run(runCtx(t), 100, 102, (&recorder{}).handle); !errors.Is(err, ErrGaveUp) {
		t.Fatalf("Run with an untrusted certificate = %v, want ErrGaveUp", err)
	}
	if got := testutil.ToFloat64(m.Failures.WithLabelValues(s.Addr(), "status")); got != 1 {
		t.Errorf("status failures %v, want 1 (the TLS handshake fails)", got)
	}
	if got := len(s.Requests()); got != 1 {
		t.Errorf("%d subscriptions, want only the trusting client's", got)
	}
}
