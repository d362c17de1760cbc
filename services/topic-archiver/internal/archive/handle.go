package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/natsbus"
	"tributary.dev/services/topic-archiver/internal/index"
	"tributary.dev/services/topic-archiver/internal/store"
)

// item is one fetched message on its way to S3: its encoded document and
// what its index row needs. The Kafka message itself is not kept, so a
// message held in an open segment costs its document's bytes and no more.
type item struct {
	topic     string
	partition int
	offset    int64
	ts        time.Time
	size      int
	headers   map[string][]string
	id        store.UUID
	doc       []byte
}

func (it *item) row(bucket, key string, offset int64) index.Row {
	sum := sha256.Sum256(it.doc)
	return index.Row{
		UUID: it.id, Topic: it.topic, Partition: int32(it.partition), Offset: it.offset,
		Time: it.ts, Bucket: bucket, Key: key, ByteOffset: offset, ByteLength: int64(len(it.doc)),
		Size: it.size, SHA256: sum[:], Headers: it.headers,
	}
}

// handle stores one fetched batch: encode, drop what is already archived,
// write, index, announce, and commit what is durable.
func (a *Archiver) handle(ctx context.Context, r *kafka.Reader, batch []kafka.Message) error {
	// The index lookup waits on PostgreSQL while encoding keeps the CPUs
	// busy, so the two run at once: it needs only each message's place
	// and the producer's id, both read straight off the message.
	lookup := make(chan known, 1)
	go func() { lookup <- a.lookUp(ctx, batch) }()
	items, err := a.encode(batch)
	k := <-lookup
	if err != nil {
		return err
	}
	if k.err != nil {
		return k.err
	}
	fresh := a.dedupe(items, k)
	a.segs.fetched(batch)
	if a.cfg.Mode == SegmentMode {
		return a.segs.add(ctx, r, fresh)
	}
	if err := a.storeObjects(ctx, fresh); err != nil {
		return err
	}
	return a.segs.commit(ctx, r)
}

// encode turns a batch into items on every CPU: BSON encoding and header
// scanning are the archiver's own CPU work, and a batch splits evenly.
func (a *Archiver) encode(batch []kafka.Message) ([]*item, error) {
	items := make([]*item, len(batch))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(batch)/256))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(batch); i += workers {
				m := batch[i]
				rec, id := store.FromMessage(m)
				doc, err := rec.Marshal()
				if err != nil {
					// Cannot happen for a Kafka message, far short of
					// BSON's 2 GiB limit; if it does, the batch is not
					// committed.
					a.m.Errors.WithLabelValues("encode").Inc()
					errs[w] = fmt.Errorf("encode %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
					return
				}
				items[i] = &item{topic: m.Topic, partition: m.Partition, offset: m.Offset, ts: rec.Time(), size: len(m.Value),
					headers: index.TextHeaders(rec.Headers), id: id, doc: doc}
			}
		}()
	}
	wg.Wait()
	return items, errors.Join(errs...)
}

// known is what the index already holds of a batch: places and ids.
type known struct {
	refs map[index.Ref]bool
	ids  map[store.UUID]bool
	err  error
}

// lookUp asks the index which of the batch's places and producer ids it
// already has. A generated id is derived from the message's place, so it
// can only be known if that place is: looking up the producers' ids alone
// is enough, and the unique index stays the last word.
func (a *Archiver) lookUp(ctx context.Context, batch []kafka.Message) known {
	refs := make([]index.Ref, len(batch))
	var ids []store.UUID
	for i, m := range batch {
		refs[i] = index.Ref{Topic: m.Topic, Partition: int32(m.Partition), Offset: m.Offset}
		if id, ok := store.ProducerID(m); ok {
			ids = append(ids, id)
		}
	}
	var k known
	k.err = a.retry(ctx, "postgres", "look up archived messages", func() error {
		var err error
		k.refs, k.ids, err = a.ix.Known(ctx, refs, ids)
		return err
	})
	return k
}

// dedupe drops messages the index already has (by place or by id) and
// repeats of an id within the batch, counting them.
func (a *Archiver) dedupe(items []*item, k known) []*item {
	fresh := items[:0:0]
	seen := map[store.UUID]bool{}
	for _, it := range items {
		ref := index.Ref{Topic: it.topic, Partition: int32(it.partition), Offset: it.offset}
		if k.refs[ref] || k.ids[it.id] || seen[it.id] {
			a.m.Duplicates.WithLabelValues(it.topic).Inc()
			continue
		}
		seen[it.id] = true
		fresh = append(fresh, it)
	}
	return fresh
}

// storeObjects writes one object per message with bounded parallelism,
// then indexes and announces them. An object that already exists is one
// an earlier run wrote before it could index it: same id, same place.
func (a *Archiver) storeObjects(ctx context.Context, items []*item) error {
	if len(items) == 0 {
		return nil
	}
	rows := make([]index.Row, len(items))
	err := a.retry(ctx, "s3", "write objects", func() error {
		// A fixed set of writers rather than a goroutine per message: a
		// put runs deep through the SDK's middleware, and a fresh
		// goroutine grows its stack for each one.
		next := make(chan int)
		errs := make([]error, min(a.cfg.PutConcurrency, len(items)))
		var wg sync.WaitGroup
		for w := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					it := items[i]
					key := store.ObjectKey(a.cfg.Root, it.topic, it.ts, it.id)
					err := a.store.Put(ctx, key, bytes.NewReader(it.doc), int64(len(it.doc)))
					if err != nil && !errors.Is(err, blob.ErrExists) {
						errs[w] = err // the rest are still tried; the retry skips what worked
						continue
					}
					rows[i] = it.row(a.store.Bucket(), key, 0)
					a.m.Bytes.Add(float64(len(it.doc)))
				}
			}()
		}
		for i := range items {
			if rows[i].Key == "" { // not written on an earlier try
				next <- i
			}
		}
		close(next)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err // one says it: an outage fails them all alike
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return a.indexAndAnnounce(ctx, rows)
}

// indexAndAnnounce inserts index rows and announces those that were new.
func (a *Archiver) indexAndAnnounce(ctx context.Context, rows []index.Row) error {
	var inserted map[store.UUID]bool
	err := a.retry(ctx, "postgres", "index messages", func() error {
		var err error
		inserted, err = a.ix.Insert(ctx, rows)
		return err
	})
	if err != nil {
		return err
	}
	var announce []natsbus.Msg
	for _, r := range rows {
		// Each id counts once: a batch can hold one message twice when a
		// rebalance hands a partition back and it is fetched again.
		if !inserted[r.UUID] {
			// Another replica indexed it first (a rebalance mid-batch).
			a.m.Duplicates.WithLabelValues(r.Topic).Inc()
			continue
		}
		delete(inserted, r.UUID)
		a.m.Messages.WithLabelValues(r.Topic).Inc()
		if a.bus != nil {
			payload, _ := json.Marshal(storedEvent(r))
			announce = append(announce, natsbus.Msg{Subject: "archive.stored." + natsbus.Token(r.Topic), MsgID: r.UUID.String(), Payload: payload})
		}
	}
	a.m.LastStored.SetToCurrentTime()
	if len(announce) > 0 {
		if err := a.bus.PublishBatch(ctx, announce); err != nil {
			// Stored and indexed is what matters; an announcement that
			// fails is counted and logged, not retried into a stall.
			a.m.Errors.WithLabelValues("nats").Inc()
			a.log.Warn("announce stored messages", zap.Int("messages", len(announce)), zap.Error(err))
		}
	}
	return nil
}

// Stored is the archive.stored.<topic> event. Size is the stored
// document's bytes — what a reader fetches at bucket/key — as in the
// segment event, not the message value's (the index keeps that).
type Stored struct {
	V           int    `json:"v"`
	Host        string `json:"host"`
	UTCTS       string `json:"utcts"`
	UUID        string `json:"uuid"`
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	Offset      int64  `json:"offset"`
	TimestampMS int64  `json:"timestamp_ms"`
	Bucket      string `json:"bucket"`
	Key         string `json:"key"`
	Size        int    `json:"size"`
	ByteOffset  int64  `json:"byte_offset"`
	ByteLength  int64  `json:"byte_length"`
}

var host = natsbus.Host()

func storedEvent(r index.Row) Stored {
	return Stored{V: 1, Host: host, UTCTS: natsbus.UTCTS(time.Now()), UUID: r.UUID.String(), Topic: r.Topic, Partition: r.Partition,
		Offset: r.Offset, TimestampMS: r.Time.UnixMilli(), Bucket: r.Bucket, Key: r.Key, Size: int(r.ByteLength), ByteOffset: r.ByteOffset, ByteLength: r.ByteLength}
}

// retry runs fn until it works. While S3 or PostgreSQL is down the
// archiver pauses here — nothing is committed — and resumes when they
// answer. It gives up only when the process is asked to stop, leaving the
// batch uncommitted for the next run.
func (a *Archiver) retry(ctx context.Context, kind, what string, fn func() error) error {
	wait := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			if attempt > 1 {
				a.log.Info("recovered", zap.String("what", what), zap.Int("attempts", attempt))
			}
			return nil
		}
		a.m.Errors.WithLabelValues(kind).Inc()
		a.log.Warn("retrying", zap.String("what", what), zap.Int("attempt", attempt), zap.Duration("in", wait), zap.Error(err))
		if attempt == 1 && a.ix != nil {
			_ = a.ix.LogError(context.WithoutCancel(ctx), kind, "", 0, 0, what+": "+err.Error())
		}
		if a.stopping() || !sleep(ctx, wait) {
			return fmt.Errorf("%s: %w", what, err)
		}
		wait = min(wait*2, 5*time.Second)
	}
}
