package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/natsbus"
	"tributary.dev/services/topic-archiver/internal/index"
	"tributary.dev/services/topic-archiver/internal/kafkameta"
	"tributary.dev/services/topic-archiver/internal/store"
)

// item is one fetched message on its way to S3: its encoded document and
// what its index row needs. The Kafka message itself is not kept, so a
// message held in an open segment costs its document's bytes and no more.
type item struct {
	topic     string
	topicID   store.UUID // the id the topic is archived under (see labels)
	partition int
	offset    int64
	ts        time.Time
	size      int
	headers   map[string][]string
	id        store.UUID
	own       bool     // the producer sent id
	payload   [32]byte // store.PayloadSum of the value
	odd       store.Odd
	doc       []byte
	sum       [32]byte // SHA-256 of doc
}

func (it *item) ref() index.Ref {
	return index.Ref{Topic: it.topic, Partition: int32(it.partition), Offset: it.offset}
}

func (it *item) row(bucket, key string, offset int64) index.Row {
	return index.Row{
		UUID: it.id, Topic: it.topic, TopicID: it.topicID, Partition: int32(it.partition), Offset: it.offset,
		Time: it.ts, Bucket: bucket, Key: key, ByteOffset: offset, ByteLength: int64(len(it.doc)),
		Size: it.size, SHA256: it.sum[:], PayloadSHA256: it.payload[:], Headers: it.headers,
	}
}

// handle stores one fetched batch: encode, drop what is already archived,
// write, index, announce, and commit what is durable.
func (a *Archiver) handle(ctx context.Context, r *kafka.Reader, batch []kafka.Message) error {
	if err := a.checkRetention(ctx, batch); err != nil {
		return err
	}
	nulls, err := a.nullValues(ctx, batch)
	if err != nil {
		return err
	}
	// The index lookup waits on PostgreSQL while encoding keeps the CPUs
	// busy, so the two run at once: it needs only each message's place
	// and the producer's id, both read straight off the message.
	lookup := make(chan known, 1)
	go func() { lookup <- a.lookUp(ctx, batch, nulls) }()
	items, err := a.encode(batch, nulls)
	k := <-lookup
	if err != nil {
		return err
	}
	if k.err != nil {
		return k.err
	}
	fresh, err := a.dedupe(ctx, items, k.Archived)
	if err != nil {
		return err
	}
	a.segs.fetched(batch)
	if a.cfg.Mode == SegmentMode {
		return a.segs.add(ctx, r, fresh)
	}
	if err := a.storeObjects(ctx, fresh); err != nil {
		return err
	}
	return a.segs.commit(ctx, r)
}

// nullValues asks the broker which of the batch's nil values are null
// (tombstones) rather than empty: kafka-go reports both as nil. Only
// messages with no value bytes are asked about, one request per
// partition that has some.
func (a *Archiver) nullValues(ctx context.Context, batch []kafka.Message) (map[int]bool, error) {
	type part struct {
		topic     string
		partition int
	}
	asked := map[part][]int{} // indexes into batch
	for i, m := range batch {
		if len(m.Value) == 0 {
			k := part{m.Topic, m.Partition}
			asked[k] = append(asked[k], i)
		}
	}
	out := map[int]bool{}
	for k, idx := range asked {
		offsets := make([]int64, len(idx))
		for j, i := range idx {
			offsets[j] = batch[i].Offset
		}
		var null map[int64]bool
		err := a.retry(ctx, "kafka", fmt.Sprintf("read %s/%d again for tombstones", k.topic, k.partition), func() error {
			var err error
			null, err = a.cfg.Meta.NullValues(ctx, k.topic, kafkameta.TopicID(a.topicID(k.topic)), int32(k.partition), offsets)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, i := range idx {
			isNull, found := null[batch[i].Offset]
			if !found {
				a.log.Warn("message gone before it could be told null or empty; archived as empty", zap.String("topic", k.topic),
					zap.Int("partition", k.partition), zap.Int64("offset", batch[i].Offset))
			}
			out[i] = isNull
		}
	}
	return out, nil
}

// encode turns a batch into items on every CPU: BSON encoding, hashing
// and header scanning are the archiver's own CPU work, and a batch
// splits evenly.
func (a *Archiver) encode(batch []kafka.Message, nulls map[int]bool) ([]*item, error) {
	items := make([]*item, len(batch))
	var ids map[string]store.UUID
	if p := a.ids.Load(); p != nil {
		ids = *p
	}
	workers := min(runtime.GOMAXPROCS(0), max(1, len(batch)/256))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(batch); i += workers {
				m := batch[i]
				st := store.Settle(m, nulls[i])
				doc, err := st.Record.Marshal()
				if err != nil {
					// Cannot happen for a Kafka message, far short of
					// BSON's 2 GiB limit; if it does, the batch is not
					// committed.
					a.m.Errors.WithLabelValues("encode").Inc()
					errs[w] = fmt.Errorf("encode %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
					return
				}
				items[i] = &item{topic: m.Topic, topicID: ids[m.Topic], partition: m.Partition, offset: m.Offset, ts: st.Record.Time(),
					size: len(m.Value), headers: index.TextHeaders(st.Record.Headers), id: st.ID, own: st.Own, payload: st.Payload,
					odd: st.Odd, doc: doc, sum: sha256.Sum256(doc)}
			}
		}()
	}
	wg.Wait()
	return items, errors.Join(errs...)
}

// known is what the index already holds of a batch.
type known struct {
	index.Archived
	err error
}

// lookUp asks the index what it holds at the batch's places and under
// the ids its producers sent, with their payloads. A generated id is
// derived from the message's place, so a message without its own id can
// only be archived already at that place.
func (a *Archiver) lookUp(ctx context.Context, batch []kafka.Message, nulls map[int]bool) known {
	refs := make([]index.Ref, len(batch))
	var ids []index.IDAsk
	for i, m := range batch {
		refs[i] = index.Ref{Topic: m.Topic, Partition: int32(m.Partition), Offset: m.Offset}
		if id, ok := store.ProducerID(m); ok {
			ids = append(ids, index.IDAsk{ID: id, Payload: store.PayloadSum(m.Value, nulls[i])})
		}
	}
	var k known
	k.err = a.retry(ctx, "postgres", "look up archived messages", func() error {
		var err error
		k.Archived, err = a.ix.Known(ctx, refs, ids)
		return err
	})
	return k
}

// dedupe keeps the messages that are not archived yet and counts the
// rest. A message is a duplicate only when that is proven:
//
//   - the index holds a document with the same bytes at its place
//     (topic, partition, offset) under any of the topic's ids — a
//     redelivery, a cursor reset, a rebalance — or holds a row there from
//     before topic ids were kept;
//   - or its producer sent an _id that an archived message carries with
//     the same payload (a resend, a restore into an archived topic).
//
// A different document at its place under the id it is being archived
// with means the topic changed under the archiver (deleted and created
// again, or truncated): its messages are not stored from this batch, the
// topic is marked for a new id, and the archiver rejoins (see resetTopics).
// A reused or all-zero _id on a different payload is stored, and counted.
func (a *Archiver) dedupe(ctx context.Context, items []*item, k index.Archived) ([]*item, error) {
	fresh := items[:0:0]
	seenPlace := map[index.Ref]bool{}
	seenIDs := map[store.UUID][][32]byte{}
	legacy := map[legacyDoc][32]byte{}
	labels := map[string]string{} // the batch's topics' metric labels
	for _, it := range items {
		if a.resets[it.topic] {
			continue // read again under the topic's next id
		}
		ref := it.ref()
		dup, changed := seenPlace[ref], false
		for _, at := range k.Places[ref] {
			switch {
			case at.TopicID == (store.UUID{}) || bytes.Equal(at.SHA256, it.sum[:]):
				dup = true
			case at.TopicID == it.topicID:
				changed = true
			}
		}
		if !dup && changed {
			a.resetTopic(it.topic, fmt.Sprintf("offset %d of partition %d holds another message than the one archived there under id %s",
				it.offset, it.partition, it.topicID))
			continue
		}
		topic, ok := labels[it.topic]
		if !ok {
			topic = a.label(it.topic)
			labels[it.topic] = topic
		}
		if !dup && it.own {
			same, reused, err := a.sameID(ctx, it, k.IDs[index.IDAsk{ID: it.id, Payload: it.payload}], seenIDs[it.id], legacy)
			if err != nil {
				return nil, err
			}
			dup = same
			if !same && reused {
				a.m.SuspectIDs.WithLabelValues(topic, "reused").Inc()
				a.log.Info("an _id already archived with another payload: stored as a message of its own", zap.String("topic", it.topic),
					zap.Int("partition", it.partition), zap.Int64("offset", it.offset), zap.Stringer("id", it.id))
			}
		}
		if dup {
			a.m.Duplicates.WithLabelValues(topic).Inc()
			continue
		}
		if it.odd != 0 {
			for _, k := range oddKinds {
				if it.odd&k.bit != 0 {
					a.m.SuspectIDs.WithLabelValues(topic, k.kind).Inc()
				}
			}
		}
		seenPlace[ref] = true
		if it.own {
			seenIDs[it.id] = append(seenIDs[it.id], it.payload)
		}
		fresh = append(fresh, it)
	}
	return fresh, nil
}

// oddKinds are the suspect_ids_total kinds an _id header can earn as it
// is settled (reused is found against the index).
var oddKinds = []struct {
	bit  store.Odd
	kind string
}{{store.OddZero, "zero"}, {store.OddMalformed, "malformed"}, {store.OddExtra, "extra"}}

// legacyDoc is an archived document read to learn its payload's hash.
type legacyDoc = index.LegacyRow

// sameID reports whether a message with its own _id is one already
// archived under that id (same payload), and whether the id was seen
// before on another payload. A row from before payload hashes were kept
// has its document read from S3 (once per batch).
func (a *Archiver) sameID(ctx context.Context, it *item, archived index.WithID, inBatch [][32]byte, legacy map[legacyDoc][32]byte) (same, reused bool, err error) {
	for _, p := range inBatch {
		if p == it.payload {
			return true, false, nil
		}
		reused = true
	}
	if archived.Same {
		return true, false, nil
	}
	reused = reused || archived.Other
	if l := archived.Legacy; l != nil {
		sum, ok := legacy[*l]
		if !ok {
			err := a.retry(ctx, "s3", "read "+l.Key+" for an archived message's payload", func() error {
				rc, err := a.store.ReadRange(ctx, l.Key, l.ByteOffset, l.ByteLength)
				if err != nil {
					return err
				}
				defer rc.Close()
				doc, err := io.ReadAll(rc)
				if err != nil {
					return err
				}
				rec, err := store.Unmarshal(doc)
				if err != nil {
					return fmt.Errorf("%s at %d: %w", l.Key, l.ByteOffset, err)
				}
				// Documents from then stored a null value as empty.
				sum = store.PayloadSum(rec.Message, false)
				return nil
			})
			if err != nil {
				return false, false, err
			}
			legacy[*l] = sum
		}
		if sum == it.payload || (it.payload == store.PayloadSum(nil, true) && sum == store.PayloadSum(nil, false)) {
			return true, false, nil
		}
		reused = true
	}
	return false, reused, nil
}

// storeObjects writes one object per message with bounded parallelism,
// then indexes and announces them. An object key that already exists
// holds either this very document (an earlier run wrote it and died
// before indexing it) or another message with the same _id: the stored
// bytes say which, and the other message goes under a variant key.
func (a *Archiver) storeObjects(ctx context.Context, items []*item) error {
	if len(items) == 0 {
		return nil
	}
	rows := make([]index.Row, len(items))
	for {
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
						variant := func(sum [32]byte) string {
							return store.VariantObjectKey(a.cfg.Root, it.topic, it.ts, it.id, store.Variant(sum[:]))
						}
						key, err := a.putOnce(ctx, key, variant, bytes.NewReader(it.doc), int64(len(it.doc)), func() ([32]byte, error) { return it.sum, nil })
						if err != nil {
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
		claimed, err := a.indexAndAnnounce(ctx, rows)
		if err != nil {
			return err
		}
		if len(claimed) == 0 {
			return nil
		}
		// clean-duplicates is deleting some of these keys: write them
		// again once it has, then index them.
		for i := range rows {
			if claimed[rows[i].Key] {
				rows[i] = index.Row{}
			}
		}
		if !sleep(ctx, time.Second) {
			return ctx.Err()
		}
	}
}

// putOnce writes body under key, write-once. If key already holds an
// object, its bytes decide: the same — written before by a run that died
// before indexing it — and key is used; different, and the body goes
// under variant(its SHA-256) instead, likewise. sum gives the body's
// SHA-256, asked for only then. It returns the key used.
func (a *Archiver) putOnce(ctx context.Context, key string, variant func(sum [32]byte) string, body io.ReadSeeker, size int64, sum func() ([32]byte, error)) (string, error) {
	err := a.store.Put(ctx, key, body, size)
	if !errors.Is(err, blob.ErrExists) {
		return key, err
	}
	want, err := sum()
	if err != nil {
		return "", err
	}
	for _, k := range []string{key, variant(want)} {
		if k != key {
			a.log.Info("object key taken by other bytes; writing beside it", zap.String("key", key), zap.String("variant", k))
			if _, err := body.Seek(0, io.SeekStart); err != nil {
				return "", err
			}
			err := a.store.Put(ctx, k, body, size)
			if !errors.Is(err, blob.ErrExists) {
				return k, err
			}
		}
		same, err := a.sameObject(ctx, k, want)
		if err != nil {
			return "", err
		}
		if same {
			return k, nil
		}
	}
	return "", fmt.Errorf("write %s: it and its variant both hold other bytes than those being archived", key)
}

// sameObject reports whether the object at key is the bytes whose
// SHA-256 is sum.
func (a *Archiver) sameObject(ctx context.Context, key string, sum [32]byte) (bool, error) {
	rc, err := a.store.Open(ctx, key)
	if err != nil {
		return false, fmt.Errorf("read %s to compare it: %w", key, err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return false, fmt.Errorf("read %s to compare it: %w", key, err)
	}
	return bytes.Equal(h.Sum(nil), sum[:]), nil
}

// indexAndAnnounce inserts index rows, with the announcements of those
// that were new in the outbox.
// Keys that clean-duplicates claimed come back: nothing was inserted, and
// their objects must be written again.
func (a *Archiver) indexAndAnnounce(ctx context.Context, rows []index.Row) (claimed map[string]bool, err error) {
	var inserted map[index.Place]bool
	err = a.retry(ctx, "postgres", "index messages", func() error {
		var err error
		var announce index.Announce
		if a.bus != nil {
			announce = a.announceMessages
		}
		inserted, err = a.ix.Insert(ctx, rows, announce)
		if ce := (*index.ClaimedError)(nil); errors.As(err, &ce) {
			claimed = map[string]bool{}
			for _, k := range ce.Keys {
				claimed[k] = true
			}
			a.log.Info("object keys claimed by clean-duplicates; writing them again", zap.Strings("keys", ce.Keys[:min(len(ce.Keys), 5)]))
			return nil
		}
		return err
	})
	if err != nil || claimed != nil {
		return claimed, err
	}
	stored, dups := map[string]int{}, map[string]int{}
	for _, r := range rows {
		// Each place counts once: a batch can hold one message twice when
		// a rebalance hands a partition back and it is fetched again.
		p := r.Place()
		if !inserted[p] {
			// Another replica indexed it first (a rebalance mid-batch).
			dups[r.Topic]++
			continue
		}
		delete(inserted, p)
		stored[r.Topic]++
	}
	for topic, n := range stored {
		a.m.Messages.WithLabelValues(a.label(topic)).Add(float64(n))
	}
	for topic, n := range dups {
		a.m.Duplicates.WithLabelValues(a.label(topic)).Add(float64(n))
	}
	a.m.LastStored.SetToCurrentTime()
	a.kickOutbox()
	return nil, nil
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
