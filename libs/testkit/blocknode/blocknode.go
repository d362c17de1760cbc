// Package blocknode is a block node stand-in: a real gRPC server speaking
// the block node API (BlockNodeService.serverStatus,
// BlockStreamSubscribeService.subscribeBlockStream) over the generated
// service definitions, serving the blocks it is given — fixture files or
// generated ones — byte for byte, and misbehaving on request the ways a
// real node can: stalling, ending or dying mid-block, serving a wrong
// block, refusing with a status code, splitting blocks over many item
// sets, reporting a range it does not have.
//
// Tests start one with testkit.BlockNode; the devstack runs one on a fixed
// port with Listen.
package blocknode

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "tributary.dev/libs/hederapb/blocknodepb"
)

// Follow is the end block number of a subscription that never ends.
const Follow = math.MaxUint64

// Code is a subscription's final status.
type Code = pb.SubscribeStreamResponse_Code

// FaultKind says how a node misbehaves at a block.
type FaultKind int

const (
	// Stall sends the first half of the block's items, then nothing more,
	// holding the stream open until the client goes away.
	Stall FaultKind = iota + 1
	// EndMidBlock sends the first half of the block's items, then ends the
	// stream: with status Code when it is set, else with no status at all.
	EndMidBlock
	// Die sends the first half of the block's items, then closes the
	// client's TCP connection, as a crashed node or a cut network does.
	// The server stays up for the next connection.
	Die
	// Tamper serves the block with one byte changed: the last byte of its
	// middle item. Every item is still sent; the block is wrong.
	Tamper
	// Refuse sends status Code instead of the block and ends the stream.
	Refuse
)

func (k FaultKind) String() string {
	switch k {
	case Stall:
		return "stall"
	case EndMidBlock:
		return "end-mid-block"
	case Die:
		return "die"
	case Tamper:
		return "tamper"
	case Refuse:
		return "refuse"
	}
	return fmt.Sprintf("fault(%d)", int(k))
}

// Fault is one misbehaviour, injected when a subscription reaches Block.
type Fault struct {
	Kind  FaultKind
	Block uint64
	// Times is how many subscriptions it hits before it is spent; 0: all.
	Times int
	// Code is Refuse's status, and EndMidBlock's when set.
	Code Code
}

// Request is one subscribeBlockStream call as the server received it.
type Request struct {
	Start, End uint64
}

// Server holds blocks by number and serves them.
type Server struct {
	grpc *grpc.Server
	ln   net.Listener

	mu          sync.Mutex
	blocks      map[uint64][][]byte // number → items (exact bytes)
	first, last uint64              // held range; empty while !any
	any         bool
	added       chan struct{} // closed and replaced on every Add
	faults      []*Fault
	perSet      int   // items per BlockItemSet; 0: byte-sized chunks
	chunkBytes  int   // BN's soft limit on a set's size, when perSet is 0
	statusErr   error // serverStatus fails with this
	statusRange *[2]uint64
	requests    []Request
	conns       map[string]*trackedConn // remote address → connection, for Die
	closed      chan struct{}
	closeOnce   sync.Once
}

// New is a stand-in holding no blocks, not yet listening.
func New() *Server {
	s := &Server{
		blocks:     map[uint64][][]byte{},
		added:      make(chan struct{}),
		chunkBytes: 1 << 20, // the block node's default maxChunkSizeBytes
		conns:      map[string]*trackedConn{},
		closed:     make(chan struct{}),
	}
	s.grpc = grpc.NewServer()
	pb.RegisterBlockNodeServiceServer(s.grpc, statusService{s: s})
	pb.RegisterBlockStreamSubscribeServiceServer(s.grpc, subscribeService{s: s})
	return s
}

// Listen serves on addr (host:port; port 0 picks a free one) until Close.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("block node stand-in: listen %s: %w", addr, err)
	}
	s.ln = &trackingListener{Listener: ln, s: s}
	go func() { _ = s.grpc.Serve(s.ln) }()
	return nil
}

// ListenTLS serves over TLS on addr with a fresh self-signed certificate
// for 127.0.0.1 and localhost, which it returns as a pool for the client
// to trust.
func (s *Server) ListenTLS(addr string) (*x509.CertPool, error) {
	cert, pool, err := selfSigned()
	if err != nil {
		return nil, fmt.Errorf("block node stand-in: certificate: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("block node stand-in: listen %s: %w", addr, err)
	}
	// gRPC clients insist on ALPN h2.
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12}
	s.ln = tls.NewListener(&trackingListener{Listener: ln, s: s}, tlsConf)
	go func() { _ = s.grpc.Serve(s.ln) }()
	return pool, nil
}

func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "block node stand-in"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

// Addr is the host:port clients dial.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server and drops every connection and stream.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	s.grpc.Stop()
}

// Add holds block (a serialized Block) under the number in its header and
// returns that number. A subscription waiting at the tip gets it at once.
// A block whose bytes would not survive being split into items and joined
// again is refused: the stand-in could not serve it byte for byte.
func (s *Server) Add(block []byte) (uint64, error) {
	items, err := SplitItems(block)
	if err != nil {
		return 0, err
	}
	if string(JoinItems(items)) != string(block) {
		return 0, errors.New("block is not in canonical encoding (item lengths as shortest varints)")
	}
	number, err := HeaderNumber(items[0])
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocks[number] = items
	if !s.any || number < s.first {
		s.first = number
	}
	if !s.any || number > s.last {
		s.last = number
	}
	s.any = true
	close(s.added)
	s.added = make(chan struct{})
	return number, nil
}

// Inject adds a fault.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// SetItemsPerSet splits every block into item sets of at most n items
// (0: sets of up to 1 MiB, as a block node does).
func (s *Server) SetItemsPerSet(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perSet = n
}

// FailStatus makes serverStatus fail with err (a gRPC status error, e.g.
// status.Error(codes.Unavailable, "…")); nil answers again.
func (s *Server) FailStatus(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statusErr = err
}

// ReportRange makes serverStatus report first..last whatever is held, as
// a node that is behind, ahead or lying would.
func (s *Server) ReportRange(first, last uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statusRange = &[2]uint64{first, last}
}

// Requests are the subscriptions received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

type statusService struct {
	pb.UnimplementedBlockNodeServiceServer
	s *Server
}

func (h statusService) ServerStatus(context.Context, *pb.ServerStatusRequest) (*pb.ServerStatusResponse, error) {
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.statusErr != nil {
		return nil, s.statusErr
	}
	resp := &pb.ServerStatusResponse{FirstAvailableBlock: math.MaxUint64, LastAvailableBlock: math.MaxUint64}
	switch {
	case s.statusRange != nil:
		resp.FirstAvailableBlock, resp.LastAvailableBlock = s.statusRange[0], s.statusRange[1]
	case s.any:
		resp.FirstAvailableBlock, resp.LastAvailableBlock = s.first, s.last
	}
	if s.any {
		resp.NextExpectedBlock = s.last + 1
	}
	return resp, nil
}

type subscribeService struct {
	pb.UnimplementedBlockStreamSubscribeServiceServer
	s *Server
}

func (h subscribeService) SubscribeBlockStream(req *pb.SubscribeStreamRequest, stream grpc.ServerStreamingServer[pb.SubscribeStreamResponse]) error {
	s := h.s
	start, end := req.GetStartBlockNumber(), req.GetEndBlockNumber()
	s.mu.Lock()
	s.requests = append(s.requests, Request{Start: start, End: end})
	first, last, held := s.first, s.last, s.any
	s.mu.Unlock()

	switch {
	case end != Follow && start > end:
		return sendStatus(stream, pb.SubscribeStreamResponse_INVALID_END_BLOCK_NUMBER)
	case !held || start < first || start > last+1:
		// A block node serves what it holds and the next block to come,
		// nothing before its first or beyond its tip.
		return sendStatus(stream, pb.SubscribeStreamResponse_NOT_AVAILABLE)
	}
	ctx := stream.Context()
	for n := start; end == Follow || n <= end; n++ {
		items, ok, err := s.await(ctx, n)
		if err != nil {
			return err
		}
		if !ok {
			return sendStatus(stream, pb.SubscribeStreamResponse_NOT_AVAILABLE)
		}
		fault := s.take(n)
		if fault == nil {
			if err := s.sendBlock(stream, n, items); err != nil {
				return err
			}
			continue
		}
		half := items[:max(1, len(items)/2)]
		switch fault.Kind {
		case Stall:
			if err := s.sendItems(stream, half); err != nil {
				return err
			}
			select {
			case <-ctx.Done():
				return status.FromContextError(ctx.Err()).Err()
			case <-s.closed:
				return status.Error(codes.Unavailable, "server closing")
			}
		case EndMidBlock:
			if err := s.sendItems(stream, half); err != nil {
				return err
			}
			if fault.Code != pb.SubscribeStreamResponse_UNKNOWN {
				return sendStatus(stream, fault.Code)
			}
			return nil
		case Die:
			if err := s.sendItems(stream, half); err != nil {
				return err
			}
			s.dropConn(ctx)
			return status.Error(codes.Unavailable, "died")
		case Tamper:
			bad := append([][]byte(nil), items...)
			i := len(bad) / 2
			bad[i] = append([]byte(nil), bad[i]...)
			bad[i][len(bad[i])-1] ^= 0x01
			if err := s.sendBlock(stream, n, bad); err != nil {
				return err
			}
		case Refuse:
			return sendStatus(stream, fault.Code)
		}
	}
	return sendStatus(stream, pb.SubscribeStreamResponse_SUCCESS)
}

// await returns block n's items, waiting while n is beyond the newest
// block held; ok is false for a gap (n is not held but later blocks are).
func (s *Server) await(ctx context.Context, n uint64) (items [][]byte, ok bool, err error) {
	for {
		s.mu.Lock()
		items, ok = s.blocks[n]
		beyond := n > s.last
		added := s.added
		s.mu.Unlock()
		if ok || !beyond {
			return items, ok, nil
		}
		select {
		case <-added:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-s.closed:
			return nil, false, status.Error(codes.Unavailable, "server closing")
		}
	}
}

// take returns the fault for block n, if any, spending one of its times.
func (s *Server) take(n uint64) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Block != n {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		c := *f
		return &c
	}
	return nil
}

func (s *Server) sendBlock(stream grpc.ServerStreamingServer[pb.SubscribeStreamResponse], n uint64, items [][]byte) error {
	if err := s.sendItems(stream, items); err != nil {
		return err
	}
	return stream.Send(&pb.SubscribeStreamResponse{Response: &pb.SubscribeStreamResponse_EndOfBlock{EndOfBlock: &pb.BlockEnd{BlockNumber: n}}})
}

// sendItems sends items as item sets: perSet items each, or as many as fit
// in chunkBytes (at least one).
func (s *Server) sendItems(stream grpc.ServerStreamingServer[pb.SubscribeStreamResponse], items [][]byte) error {
	s.mu.Lock()
	perSet, chunk := s.perSet, s.chunkBytes
	s.mu.Unlock()
	for len(items) > 0 {
		n, size := 0, 0
		for n < len(items) {
			if perSet > 0 && n == perSet {
				break
			}
			if perSet == 0 && n > 0 && size+len(items[n]) > chunk {
				break
			}
			size += len(items[n])
			n++
		}
		set := &pb.BlockItemSet{BlockItems: items[:n]}
		if err := stream.Send(&pb.SubscribeStreamResponse{Response: &pb.SubscribeStreamResponse_BlockItems{BlockItems: set}}); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

func sendStatus(stream grpc.ServerStreamingServer[pb.SubscribeStreamResponse], code Code) error {
	return stream.Send(&pb.SubscribeStreamResponse{Response: &pb.SubscribeStreamResponse_Status{Status: code}})
}

// dropConn closes the TCP connection the stream's client came in on, once
// what was sent has gone out: gRPC queues a message and writes it from
// another goroutine, so the connection is cut only after its writes have
// stopped for a while (a node that died after sending it).
func (s *Server) dropConn(ctx context.Context) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return
	}
	s.mu.Lock()
	c := s.conns[p.Addr.String()]
	s.mu.Unlock()
	if c == nil {
		return
	}
	const quiet, limit = 200 * time.Millisecond, 5 * time.Second
	last, since, start := c.written.Load(), time.Now(), time.Now()
	for time.Since(since) < quiet && time.Since(start) < limit {
		time.Sleep(10 * time.Millisecond)
		if n := c.written.Load(); n != last {
			last, since = n, time.Now()
		}
	}
	_ = c.Conn.Close()
}

// trackingListener remembers each accepted connection by its remote
// address, so Die can cut the one a stream uses.
type trackingListener struct {
	net.Listener
	s *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: l.s}
	l.s.mu.Lock()
	l.s.conns[c.RemoteAddr().String()] = tc
	l.s.mu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	s       *Server
	once    sync.Once
	written atomic.Int64
}

func (c *trackedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written.Add(int64(n))
	return n, err
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c.RemoteAddr().String())
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}
