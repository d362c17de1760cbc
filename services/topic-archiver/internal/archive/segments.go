package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/natsbus"
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
}

type segment struct {
	buf    bytes.Buffer
	items  []*item
	offs   []int64
	opened time.Time
}

// segments holds per-partition state. Offsets are committed up to, not
// including, the first message of a partition's open segment: nothing
// that is only in memory is ever committed.
type segments struct {
	a     *Archiver
	parts map[tp]*partition
}

func newSegments(a *Archiver) *segments { return &segments{a: a, parts: map[tp]*partition{}} }

func (s *segments) part(topic string, p int) *partition {
	k := tp{topic, p}
	st := s.parts[k]
	if st == nil {
		st = &partition{lastFetched: -1, committed: -1}
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

// add appends documents to their partitions' segments, writes the full
// ones, and commits what is durable.
func (s *segments) add(ctx context.Context, r *kafka.Reader, items []*item) error {
	for _, it := range items {
		st := s.part(it.msg.Topic, it.msg.Partition)
		if st.seg == nil {
			st.seg = &segment{opened: time.Now()}
		}
		st.seg.offs = append(st.seg.offs, int64(st.seg.buf.Len()))
		st.seg.buf.Write(it.doc)
		st.seg.items = append(st.seg.items, it)
		if st.seg.buf.Len() >= s.a.cfg.SegmentBytes {
			if err := s.flush(ctx, it.msg.Topic, it.msg.Partition, st); err != nil {
				return err
			}
		}
	}
	return s.commit(ctx, r)
}

// flushAged writes segments older than SEGMENT_SECONDS (all of them when
// all is set) and commits.
func (s *segments) flushAged(ctx context.Context, r *kafka.Reader, all bool) error {
	for k, st := range s.parts {
		if st.seg != nil && (all || time.Since(st.seg.opened) >= s.a.cfg.SegmentAge) {
			if err := s.flush(ctx, k.topic, k.partition, st); err != nil {
				return err
			}
		}
	}
	return s.commit(ctx, r)
}

// flush writes one segment object, indexes its documents with their byte
// ranges and announces it.
func (s *segments) flush(ctx context.Context, topic string, p int, st *partition) error {
	seg := st.seg
	a := s.a
	first, last := seg.items[0].msg.Offset, seg.items[len(seg.items)-1].msg.Offset
	key := store.SegmentKey(a.cfg.Root, topic, p, first, last)
	body := seg.buf.Bytes()
	err := a.retry(ctx, "s3", "write segment "+key, func() error {
		err := a.store.Put(ctx, key, bytes.NewReader(body), int64(len(body)))
		if errors.Is(err, blob.ErrExists) {
			return nil // written by a run that died before indexing it
		}
		return err
	})
	if err != nil {
		return err
	}
	a.m.Bytes.Add(float64(len(body)))
	a.m.Segments.Inc()
	rows := make([]index.Row, len(seg.items))
	for i, it := range seg.items {
		rows[i] = it.row(a.store.Bucket(), key, seg.offs[i])
	}
	var inserted map[store.UUID]bool
	err = a.retry(ctx, "postgres", "index segment "+key, func() error {
		var err error
		inserted, err = a.ix.Insert(ctx, rows)
		return err
	})
	if err != nil {
		return err
	}
	n := 0
	for _, r := range rows {
		if inserted[r.UUID] {
			n++
		} else {
			a.m.Duplicates.WithLabelValues(topic).Inc()
		}
	}
	a.m.Messages.WithLabelValues(topic).Add(float64(n))
	a.m.LastStored.SetToCurrentTime()
	st.seg = nil
	a.log.Debug("segment stored", zap.String("key", key), zap.Int("messages", n), zap.Int("bytes", len(body)))
	if a.bus != nil && n > 0 {
		ev := SegmentStored{V: 1, Host: host, UTCTS: natsbus.UTCTS(time.Now()), Topic: topic, Partition: p,
			Bucket: a.store.Bucket(), Key: key, FirstOffset: first, LastOffset: last, Count: n, Size: len(body)}
		payload, _ := json.Marshal(ev)
		if err := a.bus.PublishBatch(ctx, []natsbus.Msg{{Subject: "archive.stored." + natsbus.Token(topic), MsgID: key, Payload: payload}}); err != nil {
			a.m.Errors.WithLabelValues("nats").Inc()
			a.log.Warn("announce segment", zap.String("key", key), zap.Error(err))
		}
	}
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
		upto := st.lastFetched
		if st.seg != nil {
			upto = st.seg.items[0].msg.Offset - 1
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
