package archive

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"tributary.dev/services/topic-archiver/internal/kafkameta"
)

// checkRetention finds messages deleted by retention before the archiver
// read them. kafka-go, asked for an offset older than a partition's log
// start — the group's committed position after the archiver was stopped
// or slow for longer than the topic keeps messages — skips ahead to the
// log start, saying so only in its error log. So each partition's first
// message in a batch is held to where reading should have gone on: the
// offset after the last one fetched, or, for a partition first seen, the
// group's committed offset. When it jumps past that and the partition's
// log start is past it too, the offsets in between that the index does
// not hold are lost: recorded in archive_errors (topic-archiver logs),
// counted in lost_messages_total and logged. A jump that the log start
// does not explain — compaction, transaction markers — is no loss.
func (a *Archiver) checkRetention(ctx context.Context, batch []kafka.Message) error {
	first := map[tp]int64{}
	for _, m := range batch {
		k := tp{m.Topic, m.Partition}
		if f, ok := first[k]; !ok || m.Offset < f {
			first[k] = m.Offset
		}
	}
	expect := map[tp]int64{}
	var unseen []string
	for k := range first {
		if st := a.segs.parts[k]; st != nil && st.lastFetched >= 0 {
			expect[k] = st.lastFetched + 1
		} else if !containsString(unseen, k.topic) {
			unseen = append(unseen, k.topic)
		}
	}
	if len(unseen) > 0 {
		var committed map[kafkameta.Partition]int64
		err := a.retry(ctx, "kafka", "read the group's committed offsets", func() error {
			var err error
			committed, err = a.cfg.Meta.Committed(ctx, a.cfg.Group, unseen)
			return err
		})
		if err != nil {
			return err
		}
		for k := range first {
			if _, ok := expect[k]; ok {
				continue
			}
			if c, ok := committed[kafkameta.Partition{Topic: k.topic, Partition: int32(k.partition)}]; ok {
				expect[k] = c
			}
		}
	}
	var gaps []kafkameta.Partition
	for k, f := range first {
		if e, ok := expect[k]; ok && f > e {
			gaps = append(gaps, kafkameta.Partition{Topic: k.topic, Partition: int32(k.partition)})
		}
	}
	if len(gaps) == 0 {
		return nil
	}
	var starts map[kafkameta.Partition]int64
	err := a.retry(ctx, "kafka", "read log start offsets", func() error {
		var err error
		starts, err = a.cfg.Meta.Starts(ctx, gaps)
		return err
	})
	if err != nil {
		return err
	}
	for _, p := range gaps {
		k := tp{p.Topic, int(p.Partition)}
		e, f, start := expect[k], first[k], starts[p]
		if start <= e {
			continue // a gap inside the log: compaction or transaction markers
		}
		end := min(f, start)
		var have int64
		err := a.retry(ctx, "postgres", "count archived offsets", func() error {
			var err error
			have, err = a.ix.CountBetween(ctx, p.Topic, a.topicID(p.Topic), p.Partition, e, end)
			return err
		})
		if err != nil {
			return err
		}
		lost := end - e - have
		if lost <= 0 {
			continue
		}
		msg := fmt.Sprintf("%d messages lost: offsets %d to %d of %s/%d were deleted by retention before they were archived (the group's position was %d, the log now starts at %d)",
			lost, e, end-1, p.Topic, p.Partition, e, start)
		a.log.Error("messages lost to retention", zap.String("topic", p.Topic), zap.Int32("partition", p.Partition),
			zap.Int64("from", e), zap.Int64("to", end-1), zap.Int64("lost", lost))
		a.m.LostMessages.WithLabelValues(a.label(p.Topic)).Add(float64(lost))
		if err := a.ix.LogError(ctx, "retention", p.Topic, p.Partition, e, msg); err != nil {
			a.log.Warn("record lost messages", zap.Error(err))
		}
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
