package parser

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"tributary.dev/libs/runner"
	"tributary.dev/services/record-parser/internal/intake"
)

// How long a message waits before it is handed out again.
const (
	fetchWait    = 2 * time.Second
	waitDelay    = 2 * time.Second // predecessor not recorded yet
	haltDelay    = 5 * time.Second // held back by a halt
	retryDelay   = 5 * time.Second // a failure; grows with deliveries
	maxRetryWait = time.Minute
	ackTimeout   = 10 * time.Second
)

// Consume parses the files the stream hands out until the process is
// asked to stop (runner.Stopping) or, with once, until nothing is pending.
// Files of one batch are decoded in parallel and committed in stream
// (consensus) order, so a replica never races itself on the chain.
func (p *Parser) Consume(ctx context.Context, src *intake.Consumer, once bool) error {
	for !runner.Stopping(ctx) {
		// A message's AckWait runs from its delivery, while the fetch
		// still waits for more: the wait is at most one heartbeat
		// interval, and the first heartbeat goes as soon as it returns.
		msgs, err := src.Fetch(ctx, p.cfg.Concurrency*2, min(fetchWait, p.cfg.Heartbeat))
		p.beat()
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			if !once {
				continue
			}
			n, err := src.Pending(ctx)
			if err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
			if h, err := p.st.Halted(ctx); err == nil && h != nil {
				return fmt.Errorf("the stream is halted at %s (%s): `record-parser resume` once the break is understood", h.File, h.Reason)
			}
			continue
		}
		p.batch(ctx, msgs)
	}
	return nil
}

// item is one message of a batch on its way through.
type item struct {
	msg  jetstream.Msg
	job  intake.Job
	done chan struct{}
	out  Outcome
	err  error
}

func (p *Parser) batch(ctx context.Context, msgs []jetstream.Msg) {
	var items []*item
	for _, m := range msgs {
		job, ok, err := intake.ParseEvent(m.Subject(), m.Data())
		if err != nil {
			// A message that is not a downloaded event never will be:
			// terminate it rather than see it again forever.
			p.m.Failed.WithLabelValues("message").Inc()
			p.log.Error("message refused", zap.String("subject", m.Subject()), zap.Uint64("stream_seq", seq(m)), zap.Error(err))
			p.settle(ctx, m, func(context.Context) error { return m.Term() })
			continue
		}
		if !ok {
			p.settle(ctx, m, m.DoubleAck)
			continue
		}
		items = append(items, &item{msg: m, job: job, done: make(chan struct{})})
	}
	// The whole batch is in hand until it is settled, however long the
	// files take (one waiting for the one before it, Elasticsearch slow or
	// retrying): the stream hears so, and hands none of them to another
	// replica meanwhile.
	stop := p.heartbeat(items)
	defer stop()
	// Files are processed by Concurrency workers; Process itself is safe
	// in parallel, but the chain verdict of a file needs its predecessor
	// recorded, so each waits for the one before it to finish first and
	// only the decoding overlaps.
	sem := make(chan struct{}, p.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, it := range items {
		var before *item
		if i > 0 {
			before = items[i-1]
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer close(it.done)
			it.out, it.err = p.processInOrder(ctx, it, before)
		}()
	}
	wg.Wait()
	stop()
	for _, it := range items {
		p.finish(ctx, it)
	}
}

// heartbeat tells the stream at once, then every Heartbeat until stop is
// called, that the items are still being worked on (JetStream's
// in-progress acknowledgement restarts their AckWait).
func (p *Parser) heartbeat(items []*item) (stop func()) {
	if len(items) == 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(p.cfg.Heartbeat)
		defer t.Stop()
		for first := true; ; first = false {
			if !first {
				select {
				case <-done:
					return
				case <-t.C:
				}
			}
			for _, it := range items {
				if err := it.msg.InProgress(); err != nil {
					// The stream will hand the file out again after
					// AckWait; every step tolerates that.
					p.log.Warn("heartbeat failed", zap.String("file", it.job.Rel()), zap.Error(err))
					continue
				}
				p.m.Heartbeats.Inc()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
		})
	}
}

// processInOrder decodes at once and commits after before has finished.
func (p *Parser) processInOrder(ctx context.Context, it *item, before *item) (Outcome, error) {
	return p.process(ctx, it.job, Options{Wait: true}, func() {
		if before != nil {
			<-before.done
		}
	})
}

// finish acknowledges or puts back one message by its outcome.
func (p *Parser) finish(ctx context.Context, it *item) {
	m := it.msg
	n := 1
	if md, err := m.Metadata(); err == nil {
		n = int(md.NumDelivered)
	}
	switch {
	case it.err != nil:
		delay := min(retryDelay*time.Duration(n), maxRetryWait)
		p.log.Error("record file failed; it will be tried again", zap.String("file", it.job.Rel()),
			zap.Int("delivery", n), zap.Duration("retry_in", delay), zap.Error(it.err))
		p.settle(ctx, m, func(context.Context) error { return m.NakWithDelay(delay) })
	case it.out == Wait:
		p.settle(ctx, m, func(context.Context) error { return m.NakWithDelay(waitDelay) })
	case it.out == Halted:
		p.settle(ctx, m, func(context.Context) error { return m.NakWithDelay(haltDelay) })
	default:
		p.settle(ctx, m, m.DoubleAck)
	}
}

// settle runs an ack, nak or term; one that fails is logged, and the
// message comes again after AckWait — which every step tolerates. The
// wait for the server is bounded, and not cut by shutdown (the work it
// confirms is done).
func (p *Parser) settle(ctx context.Context, m jetstream.Msg, fn func(context.Context) error) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
	defer cancel()
	if err := fn(c); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		p.log.Warn("acknowledgement failed; the message will come again", zap.String("subject", m.Subject()), zap.Uint64("stream_seq", seq(m)), zap.Error(err))
	}
}

func seq(m jetstream.Msg) uint64 {
	if md, err := m.Metadata(); err == nil {
		return md.Sequence.Stream
	}
	return 0
}
