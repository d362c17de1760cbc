package archive

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"tributary.dev/services/topic-archiver/internal/index"
	"tributary.dev/services/topic-archiver/internal/store"
)

type tp struct {
	topic     string
	partition int
}

// partition tracks what has been fetched, stored and committed for one
// topic-partition, and its open segment (segment mode).
type partition struct {
	lastFetched int64 // -1: nothing yet
	committed   int64 // last offset committed, -1: none by us
	seg         *segment
	// pending counts the closed segments being written by their first
	// offset: after a rebalance two can start at the same offset.
	pending map[int64]int
}

// segment is an open segment: the documents themselves, laid end to end
// only when it is written, so memory holds each document once.
type segment struct {
	items  []*item
	size   int
	opened time.Time
}

// segments holds per-partition state. Offsets are committed up to, not
// including, the first message of a partition's open segment or of any
// segment still being written: nothing that is only in memory is ever
// committed. Closed segments are written in the background (FlushParallel
// at a time) while the next batches are fetched and encoded; buffered and
// inflight are the bytes held open and being written, and past
// SegmentMemory the biggest open ones are written early and the loop waits
// for writes to finish, so memory stays flat however many partitions are
// assigned.
type segments struct {
	a        *Archiver
	parts    map[tp]*partition
	buffered int
	inflight int
	running  int
	sem      chan struct{}
	done     chan flushed
}

// flushed is a background write's outcome.
type flushed struct {
	k     tp
	first int64
	size  int
	err   error
}

func newSegments(a *Archiver) *segments {
	return &segments{a: a, parts: map[tp]*partition{}, sem: make(chan struct{}, FlushParallel), done: make(chan flushed, 4*FlushParallel)}
}

func (s *segments) part(topic string, p int) *partition {
	k := tp{topic, p}
	st := s.parts[k]
	if st == nil {
		st = &partition{lastFetched: -1, committed: -1, pending: map[int64]int{}}
		s.parts[k] = st
	}
	return st
}

// fetched records the batch's offsets, duplicates included.
func (s *segments) fetched(batch []kafka.Message) {
	for _, m := range batch {
		st := s.part(m.Topic, m.Partition)
		st.lastFetched = max(st.lastFetched, m.Offset)
	}
}

// forget drops the state of the partitions of topics gone: called
// between readers, when every segment has been written (finish), so none
// is open or pending.
func (s *segments) forget(gone func(topic string) bool) {
	for k, st := range s.parts {
		if gone(k.topic) && st.seg == nil && len(st.pending) == 0 {
			delete(s.parts, k)
		}
	}
}

// ready is a closed segment waiting to be written.
type ready struct {
	k   tp
	seg *segment
}

// add appends documents to their partitions' segments, writes the full
// ones (and, past SegmentMemory, the biggest open ones), and commits what
// is durable.
func (s *segments) add(ctx context.Context, r *kafka.Reader, items []*item) error {
	var out []ready
	for _, it := range items {
		k := tp{it.topic, it.partition}
		st := s.part(it.topic, it.partition)
		if st.seg == nil {
			st.seg = &segment{opened: time.Now()}
		}
		st.seg.items = append(st.seg.items, it)
		st.seg.size += len(it.doc)
		s.buffered += len(it.doc)
		if st.seg.size >= s.a.cfg.SegmentBytes {
			out = append(out, s.close(k, st))
		}
	}
	// Past the cap, write the biggest segments until half of it is left:
	// several go out together, in parallel, rather than one per batch.
	limit := s.a.cfg.SegmentMemory
	if limit > 0 && s.buffered+s.inflight > limit {
		for s.buffered > limit/2 {
			var big *partition
			var bigKey tp
			for k, st := range s.parts {
				if st.seg != nil && (big == nil || st.seg.size > big.seg.size) {
					big, bigKey = st, k
				}
			}
			out = append(out, s.close(bigKey, big))
		}
	}
	s.start(ctx, out)
	for limit > 0 && s.buffered+s.inflight > limit && s.running > 0 {
		if err := s.reap(true); err != nil {
			return err
		}
	}
	if err := s.reap(false); err != nil {
		return err
	}
	return s.commit(ctx, r)
}

// close takes a partition's open segment out for writing.
func (s *segments) close(k tp, st *partition) ready {
	seg := st.seg
	st.seg = nil
	s.buffered -= seg.size
	return ready{k, seg}
}

// flushAged writes segments older than SEGMENT_SECONDS (all of them when
// all is set, and then waits for every write) and commits what is durable.
func (s *segments) flushAged(ctx context.Context, r *kafka.Reader, all bool) error {
	var out []ready
	for k, st := range s.parts {
		if st.seg != nil && (all || time.Since(st.seg.opened) >= s.a.cfg.SegmentAge) {
			out = append(out, s.close(k, st))
		}
	}
	s.start(ctx, out)
	for all && s.running > 0 {
		if err := s.reap(true); err != nil {
			return err
		}
	}
	if err := s.reap(false); err != nil {
		return err
	}
	return s.commit(ctx, r)
}

// start writes closed segments in the background: an S3 put and an index
// insert are mostly waiting, so the loop goes on fetching and encoding
// meanwhile. Each segment's first offset stays pending — holding the
// partition's commit point below it — until reap sees it written.
func (s *segments) start(ctx context.Context, out []ready) {
	for _, r := range out {
		first := r.seg.items[0].offset
		s.parts[r.k].pending[first]++
		s.inflight += r.seg.size
		s.running++
		s.sem <- struct{}{} // at most FlushParallel writes at once
		go func() {
			err := s.flush(ctx, r.k.topic, r.k.partition, r.seg)
			<-s.sem
			s.done <- flushed{k: r.k, first: first, size: r.seg.size, err: err}
		}()
	}
}

// reap takes finished writes (waiting for one when wait is set) and
// clears their pending offsets. A failed write stays pending, so nothing
// after it is committed, and its error ends the run.
func (s *segments) reap(wait bool) error {
	var errs []error
	for s.running > 0 {
		var f flushed
		if wait {
			f = <-s.done
			wait = false
		} else {
			select {
			case f = <-s.done:
			default:
				return errors.Join(errs...)
			}
		}
		s.running--
		s.inflight -= f.size
		if f.err != nil {
			errs = append(errs, f.err)
			continue
		}
		if p := s.parts[f.k].pending; p[f.first] <= 1 {
			delete(p, f.first)
		} else {
			p[f.first]--
		}
	}
	return errors.Join(errs...)
}

// FlushParallel is how many partitions' segments are written (and
// indexed) at once; the benchmark's floor writes as many at a time.
const FlushParallel = 8

// flush writes one segment object, indexes its documents with their byte
// ranges and announces it. It touches no shared state, so several run at
// once in the background. A key that already holds an object keeps it if
// it is these very bytes (written by a run that died before indexing
// them); other bytes — the same offsets of a topic since created again —
// send this segment to a variant key.
func (s *segments) flush(ctx context.Context, topic string, p int, seg *segment) error {
	a := s.a
	first, last := seg.items[0].offset, seg.items[len(seg.items)-1].offset
	body := newDocsReader(seg.items)
	var key string
	var rows []index.Row
	var inserted map[index.Place]bool
	for {
		variant := func(sum [32]byte) string {
			return store.VariantSegmentKey(a.cfg.Root, topic, p, first, last, store.Variant(sum[:]))
		}
		// The segment's hash is only needed when its key is taken.
		sum := func() ([32]byte, error) {
			var sum [32]byte
			h := sha256.New()
			if _, err := body.Seek(0, io.SeekStart); err != nil {
				return sum, err
			}
			if _, err := io.Copy(h, body); err != nil {
				return sum, err
			}
			copy(sum[:], h.Sum(nil))
			_, err := body.Seek(0, io.SeekStart)
			return sum, err
		}
		err := a.retry(ctx, "s3", "write segment "+store.SegmentKey(a.cfg.Root, topic, p, first, last), func() error {
			if _, err := body.Seek(0, io.SeekStart); err != nil {
				return err
			}
			var err error
			key, err = a.putOnce(ctx, store.SegmentKey(a.cfg.Root, topic, p, first, last), variant, body, body.Size(), sum)
			return err
		})
		if err != nil {
			return err
		}
		rows = make([]index.Row, len(seg.items))
		for i, it := range seg.items {
			rows[i] = it.row(a.store.Bucket(), key, body.offs[i])
		}
		claimed := false
		err = a.retry(ctx, "postgres", "index segment "+key, func() error {
			var err error
			inserted, err = a.ix.Insert(ctx, rows, a.announceSegment(topic, p, key, first, last, int(body.Size())))
			if ce := (*index.ClaimedError)(nil); errors.As(err, &ce) {
				claimed = true
				return nil
			}
			return err
		})
		if err != nil {
			return err
		}
		if !claimed {
			break
		}
		a.log.Info("segment key claimed by clean-duplicates; writing it again", zap.String("key", key))
		if !sleep(ctx, time.Second) {
			return ctx.Err()
		}
	}
	size := int(body.Size())
	a.m.Bytes.Add(float64(size))
	a.m.Segments.Inc()
	n := 0
	label := a.label(topic)
	for _, r := range rows {
		// Each place counts once: a segment can hold one message twice
		// when a rebalance hands its partition back and it is fetched
		// again.
		if pl := r.Place(); inserted[pl] {
			delete(inserted, pl)
			n++
		} else {
			a.m.Duplicates.WithLabelValues(label).Inc()
		}
	}
	a.m.Messages.WithLabelValues(label).Add(float64(n))
	a.m.LastStored.SetToCurrentTime()
	a.log.Debug("segment stored", zap.String("key", key), zap.Int("messages", n), zap.Int("bytes", size))
	a.kickOutbox()
	return nil
}

// SegmentStored is the archive.stored.<topic> event in segment mode: one
// per segment, naming the offsets it holds.
type SegmentStored struct {
	V           int    `json:"v"`
	Host        string `json:"host"`
	UTCTS       string `json:"utcts"`
	Topic       string `json:"topic"`
	Partition   int    `json:"partition"`
	Bucket      string `json:"bucket"`
	Key         string `json:"key"`
	FirstOffset int64  `json:"first_offset"`
	LastOffset  int64  `json:"last_offset"`
	Count       int    `json:"count"`
	Size        int    `json:"size"`
}

// commit commits, per partition, everything fetched up to the first
// message still only in memory.
func (s *segments) commit(ctx context.Context, r *kafka.Reader) error {
	var msgs []kafka.Message
	for k, st := range s.parts {
		if s.a.noCommit[k.topic] || s.a.resets[k.topic] {
			continue
		}
		upto := st.lastFetched
		if st.seg != nil {
			upto = st.seg.items[0].offset - 1
		}
		for first := range st.pending {
			upto = min(upto, first-1)
		}
		if upto > st.committed {
			msgs = append(msgs, kafka.Message{Topic: k.topic, Partition: k.partition, Offset: upto})
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	err := s.a.retry(ctx, "kafka", "commit offsets", func() error { return r.CommitMessages(ctx, msgs...) })
	if err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	for _, m := range msgs {
		s.parts[tp{m.Topic, m.Partition}].committed = m.Offset
	}
	return nil
}

// fetchedAll reports whether every partition has been fetched up to its
// goal offset: a one-shot run then writes what it holds and ends, rather
// than waiting for its segments to age.
func (s *segments) fetchedAll(goal map[tp]int64) bool {
	for k, want := range goal {
		if st := s.parts[k]; st == nil || st.lastFetched < want {
			return false
		}
	}
	return true
}

// short lists the partitions whose committed progress is still below
// their goal offset.
func (s *segments) short(goal map[tp]int64) []string {
	var out []string
	for k, want := range goal {
		st := s.parts[k]
		if st == nil || st.committed < want {
			out = append(out, fmt.Sprintf("%s/%d", k.topic, k.partition))
		}
	}
	return out
}

// docsReader reads a segment's documents end to end without copying them
// into one buffer. It can seek, so the S3 client signs the payload (and
// retries it) without spooling it to disk.
type docsReader struct {
	items []*item
	offs  []int64 // each document's start
	size  int64
	pos   int64
}

func newDocsReader(items []*item) *docsReader {
	d := &docsReader{items: items, offs: make([]int64, len(items))}
	for i, it := range items {
		d.offs[i] = d.size
		d.size += int64(len(it.doc))
	}
	return d
}

func (d *docsReader) Size() int64 { return d.size }

func (d *docsReader) Read(p []byte) (int, error) {
	if d.pos >= d.size {
		return 0, io.EOF
	}
	n := 0
	i := sort.Search(len(d.offs), func(i int) bool { return d.offs[i] > d.pos }) - 1
	for n < len(p) && i < len(d.items) {
		doc := d.items[i].doc
		c := copy(p[n:], doc[d.pos-d.offs[i]:])
		n += c
		d.pos += int64(c)
		if d.pos-d.offs[i] >= int64(len(doc)) {
			i++
		}
	}
	return n, nil
}

func (d *docsReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += d.pos
	case io.SeekEnd:
		offset += d.size
	default:
		return 0, fmt.Errorf("seek: bad whence %d", whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("seek: negative position %d", offset)
	}
	d.pos = offset
	return offset, nil
}
