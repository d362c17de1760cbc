package natsbus

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/testkit"
)

// silent is a server that accepts TCP connections and never speaks NATS,
// like a hung server or a port that is not NATS at all.
type silent struct {
	url   string
	first chan net.Conn // the first accepted connection, once
}

func silentServer(t *testing.T) *silent {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &silent{url: "nats://" + ln.Addr().String(), first: make(chan net.Conn, 1)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			select {
			case s.first <- c:
			default:
			}
		}
	}()
	return s
}

// TestConnectHonoursContext: the first connection stops when ctx ends,
// with an error that wraps ctx.Err(), and the socket it had opened is
// closed (nothing left behind).
func TestConnectHonoursContext(t *testing.T) {
	cases := []struct {
		name string
		ctx  func(s *silent) (context.Context, context.CancelFunc, <-chan net.Conn)
		want error
	}{
		{"deadline expires during the handshake", func(s *silent) (context.Context, context.CancelFunc, <-chan net.Conn) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			return ctx, cancel, s.first
		}, context.DeadlineExceeded},
		{"cancelled during the handshake", func(s *silent) (context.Context, context.CancelFunc, <-chan net.Conn) {
			ctx, cancel := context.WithCancel(context.Background())
			conn := make(chan net.Conn, 1)
			go func() {
				// Cancel once the client is connected and waiting for
				// the server's INFO, which never comes.
				c := <-s.first
				cancel()
				conn <- c
			}()
			return ctx, cancel, conn
		}, context.Canceled},
		{"cancelled before the call", func(*silent) (context.Context, context.CancelFunc, <-chan net.Conn) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel, nil
		}, context.Canceled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := silentServer(t)
			ctx, cancel, accepted := c.ctx(srv)
			defer cancel()
			// The client's own handshake timeout is 10s; the test waits
			// far longer, and checks that ctx is what ended the call.
			done := make(chan error, 1)
			go func() {
				bus, err := Connect(ctx, srv.url, "test", zap.NewNop())
				if bus != nil {
					bus.Close()
				}
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(2 * time.Minute):
				t.Fatal("Connect did not return")
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want it to wrap %v", err, c.want)
			}
			if accepted == nil {
				return
			}
			// The socket the client opened must have been closed by it:
			// the server side reads EOF.
			var conn net.Conn
			select {
			case conn = <-accepted:
			case <-time.After(time.Minute):
				t.Fatal("the client never connected to the silent server")
			}
			_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
			if _, err := io.Copy(io.Discard, conn); err != nil {
				t.Fatalf("client socket not closed after Connect gave up: %v", err)
			}
		})
	}
}

// TestConnectionOutlivesConnectContext: ctx bounds the connecting only;
// once connected, cancelling it must not touch the connection.
func TestConnectionOutlivesConnectContext(t *testing.T) {
	url := testkit.NATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	bus, err := Connect(ctx, url, "test", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	cancel()
	sub, err := bus.Conn.SubscribeSync("archive.stored.x")
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Publish(context.Background(), "archive.stored.x", "", []byte(`{"v":1}`)); err != nil {
		t.Fatalf("publish after the connect context ended: %v", err)
	}
	msg, err := sub.NextMsg(30 * time.Second)
	if err != nil || string(msg.Data) != `{"v":1}` {
		t.Fatalf("message = %v, %v", msg, err)
	}
	if err := bus.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}
