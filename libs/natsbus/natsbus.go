// Package natsbus is how services talk over NATS: a connection that keeps
// reconnecting, JSON events published with a stable Nats-Msg-Id so that a
// republish after a crash is deduplicated, and JetStream streams for work
// hand-offs that must survive a consumer being down.
package natsbus

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Bus is a NATS connection with its JetStream context.
type Bus struct {
	Conn *nats.Conn
	JS   jetstream.JetStream
}

// Connect dials url (comma-separated servers allowed, credentials in the
// URL) and keeps reconnecting for as long as the process lives: a NATS
// restart must not take the services down. Connection events are logged.
//
// ctx bounds the first connection only, handshake included: a cancelled
// or expiring ctx stops it promptly with an error wrapping ctx.Err(), even
// against a server that accepts TCP and never speaks. Reconnects later on
// are not tied to ctx.
func Connect(ctx context.Context, url, name string, log *zap.Logger) (*Bus, error) {
	if url == "" {
		return nil, fmt.Errorf("NATS: no server URL")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("NATS: connect: %w", err)
	}
	d := &ctxDialer{ctx: ctx, net: net.Dialer{Timeout: dialTimeout, KeepAliveConfig: keepAlive}}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(false),
		nats.Timeout(dialTimeout),
		nats.SetCustomDialer(d),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", zap.String("server", c.ConnectedUrlRedacted()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Error("nats error", zap.Error(err))
		}),
	}
	nc, err := nats.Connect(url, opts...)
	cut := d.release()
	if cerr := ctx.Err(); cut || cerr != nil {
		// The context ended during the first connection: whatever
		// nats.Connect made of its closed socket, the caller asked to
		// give up.
		if nc != nil {
			nc.Close()
		}
		if cerr == nil {
			cerr = context.Cause(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("NATS: connect: %w (%v)", cerr, err)
		}
		return nil, fmt.Errorf("NATS: connect: %w", cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("NATS: connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("NATS: jetstream: %w", err)
	}
	return &Bus{Conn: nc, JS: js}, nil
}

// dialTimeout bounds one TCP dial and one protocol handshake.
const dialTimeout = 10 * time.Second

// keepAlive lets a NATS server that vanished without a FIN be noticed in
// about a minute, so the client starts reconnecting.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3}

// ctxDialer ties the sockets of the first connection to ctx: nats.Connect
// takes no context, so a socket is closed when ctx ends, which ends the
// dial or the handshake at once. After release, dials (reconnects) are
// bound by the dial timeout alone.
type ctxDialer struct {
	ctx context.Context
	net net.Dialer

	mu       sync.Mutex
	released bool
	stops    []func() bool
	cut      bool // ctx ended while a first-connection socket was open
}

func (d *ctxDialer) Dial(network, address string) (net.Conn, error) {
	d.mu.Lock()
	ctx := d.ctx
	if d.released {
		ctx = context.Background()
	}
	d.mu.Unlock()
	c, err := d.net.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.released {
		d.stops = append(d.stops, context.AfterFunc(d.ctx, func() {
			d.mu.Lock()
			d.cut = true
			d.mu.Unlock()
			c.Close()
		}))
	}
	return c, nil
}

// release unties later dials from ctx and reports whether ctx closed a
// socket of the first connection.
func (d *ctxDialer) release() (cut bool) {
	d.mu.Lock()
	d.released = true
	stops := d.stops
	d.stops = nil
	d.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cut
}

// Publish sends payload on subject with a Nats-Msg-Id header and waits
// until the server has it (flush), so a caller that marks the message as
// sent afterwards does not lose it in a client buffer.
func (b *Bus) Publish(ctx context.Context, subject, msgID string, payload []byte) error {
	msg := nats.NewMsg(subject)
	msg.Data = payload
	if msgID != "" {
		msg.Header.Set(nats.MsgIdHdr, msgID)
	}
	if err := b.Conn.PublishMsg(msg); err != nil {
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	if err := b.flush(ctx); err != nil {
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	return nil
}

// Msg is one message of a batch publish.
type Msg struct {
	Subject string
	MsgID   string
	Payload []byte
}

// PublishBatch sends msgs and waits once for the server to have them all:
// one round trip for a batch instead of one per message.
func (b *Bus) PublishBatch(ctx context.Context, msgs []Msg) error {
	for _, m := range msgs {
		msg := nats.NewMsg(m.Subject)
		msg.Data = m.Payload
		if m.MsgID != "" {
			msg.Header.Set(nats.MsgIdHdr, m.MsgID)
		}
		if err := b.Conn.PublishMsg(msg); err != nil {
			return fmt.Errorf("publish %s: %w", m.Subject, err)
		}
	}
	return b.flush(ctx)
}

func (b *Bus) flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		// FlushWithContext insists on a deadline.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	if err := b.Conn.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("publish: flush: %w", err)
	}
	return nil
}

// PublishJSON marshals v and publishes it.
func (b *Bus) PublishJSON(ctx context.Context, subject, msgID string, v any) error {
	payload, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("publish %s: marshal: %w", subject, err)
	}
	return b.Publish(ctx, subject, msgID, payload)
}

// PublishDurable publishes through JetStream and waits for the stream's
// acknowledgement. The stream drops a second message with the same msgID
// inside its duplicate window, so retrying after an unclear failure is safe.
func (b *Bus) PublishDurable(ctx context.Context, subject, msgID string, payload []byte) error {
	opts := []jetstream.PublishOpt{}
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	if _, err := b.JS.Publish(ctx, subject, payload, opts...); err != nil {
		return fmt.Errorf("publish %s to jetstream: %w", subject, err)
	}
	return nil
}

// EnsureStream creates the stream or updates it to cfg, so every replica
// can call it at start.
func (b *Bus) EnsureStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := b.JS.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// Check is a readiness check for metrics.Server.AddCheck.
func (b *Bus) Check(context.Context) error {
	if st := b.Conn.Status(); st != nats.CONNECTED {
		return fmt.Errorf("nats %s", st)
	}
	return nil
}

// Close drains pending publishes and closes the connection.
func (b *Bus) Close() {
	if b == nil || b.Conn == nil {
		return
	}
	_ = b.Conn.Drain()
	// Drain is asynchronous; wait a little for it so a clean exit does
	// not drop what was just published.
	deadline := time.Now().Add(5 * time.Second)
	for !b.Conn.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	b.Conn.Close()
}

// Host is the host name events report, as the originals did.
func Host() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// UTCTS formats t as the originals' utcts field: UTC, microseconds, no zone
// ("2021-12-09T08:31:04.824890").
func UTCTS(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000")
}

// Token makes s safe as one token of a subject: NATS splits subjects on
// '.', treats '*' and '>' as wildcards and forbids whitespace. Unsafe bytes
// become '_'; an empty result becomes "_".
func Token(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '.' || c == '*' || c == '>' || c <= ' ' || c == 0x7f {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}
