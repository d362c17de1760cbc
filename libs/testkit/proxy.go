package testkit

import (
	"io"
	"net"
	"sync"
	"testing"
)

// TCPProxy forwards TCP connections to a target and can be made to stall:
// it keeps accepting and holds every connection open but forwards
// nothing, the way a hung server or a black-holed network looks to a
// client. Tests use it to check that deadlines turn a hang into an error.
type TCPProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	open    chan struct{} // closed while forwarding; a fresh one while stalled
	conns   map[net.Conn]struct{}
	closing chan struct{}
	wg      sync.WaitGroup
}

// Proxy listens on 127.0.0.1 and forwards each connection to target
// (host:port). It is stopped, with its connections, when the test ends.
func Proxy(t testing.TB, target string) *TCPProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testkit: proxy listen: %v", err)
	}
	p := &TCPProxy{ln: ln, target: target, open: make(chan struct{}), conns: map[net.Conn]struct{}{}, closing: make(chan struct{})}
	close(p.open)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the host:port clients dial instead of the target.
func (p *TCPProxy) Addr() string { return p.ln.Addr().String() }

// Stall stops forwarding in both directions, on open connections and new
// ones alike, and keeps them all open: a client sees a server that took
// its request and went quiet.
func (p *TCPProxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default: // already stalled
	}
}

// Resume forwards again. The connections held during the stall are
// dropped first, as a server restart would drop them: their clients gave
// up on them, and a request abandoned minutes ago must not reach the
// server late and make the test depend on when. New connections work.
func (p *TCPProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		return // not stalled
	default:
	}
	for c := range p.conns {
		c.Close()
	}
	close(p.open)
}

// gate waits until forwarding is on; false when the proxy is closing.
func (p *TCPProxy) gate() bool {
	p.mu.Lock()
	open := p.open
	p.mu.Unlock()
	select {
	case <-open:
		return true
	case <-p.closing:
		return false
	}
}

func (p *TCPProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// track remembers c so close can end it; false when already closing.
func (p *TCPProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.closing:
		return false
	default:
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *TCPProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *TCPProxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	upstream, err := net.Dial("tcp", p.target)
	if err != nil {
		return // the client sees the connection closed, as with a dead server
	}
	if !p.track(upstream) {
		upstream.Close()
		return
	}
	defer p.untrack(upstream)
	done := make(chan struct{}, 2)
	go func() { p.pipe(upstream, client); done <- struct{}{} }()
	go func() { p.pipe(client, upstream); done <- struct{}{} }()
	// Either side ending ends both: closing makes the other pipe's Read fail.
	<-done
	client.Close()
	upstream.Close()
	<-done
}

// pipe copies src to dst, holding each chunk while the proxy is stalled.
func (p *TCPProxy) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *TCPProxy) close() {
	p.mu.Lock()
	select {
	case <-p.closing:
		p.mu.Unlock()
		return
	default:
	}
	close(p.closing)
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}
