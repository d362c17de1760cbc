package kafkameta

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// nullFetchBytes is how much one re-read of a partition asks for; the
// broker returns at least one whole batch however big.
const nullFetchBytes = 4 << 20

var decompressor = kgo.DefaultDecompressor()

// NullValues reads offsets of one partition again and reports which hold
// a null value (a tombstone) rather than an empty one: kafka-go hands over
// both as nil. Offsets it no longer finds (deleted or compacted away since
// they were fetched) are left out of the answer.
func (c *Client) NullValues(ctx context.Context, topic string, id TopicID, partition int32, offsets []int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(offsets) == 0 {
		return out, nil
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	offsets = slices.Clone(offsets)
	slices.Sort(offsets)
	want := map[int64]bool{}
	for _, o := range offsets {
		want[o] = true
	}
	leader, err := c.leader(ctx, topic, partition)
	if err != nil {
		return nil, err
	}
	from, last := offsets[0], offsets[len(offsets)-1]
	for from <= last {
		next, err := c.fetchNulls(ctx, leader, topic, id, partition, from, want, out)
		if err != nil {
			return nil, fmt.Errorf("read %s/%d@%d again for null values: %w", topic, partition, from, err)
		}
		if next <= from {
			break // nothing more to read: the rest is gone
		}
		from = next
	}
	return out, nil
}

func (c *Client) leader(ctx context.Context, topic string, partition int32) (int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return 0, fmt.Errorf("leader of %s/%d: %w", topic, partition, err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.Partition == partition {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return 0, fmt.Errorf("leader of %s/%d: %w", topic, partition, err)
				}
				return p.Leader, nil
			}
		}
	}
	return 0, fmt.Errorf("leader of %s/%d: no such partition", topic, partition)
}

// fetchNulls fetches once from offset and notes the null values of the
// wanted offsets it finds; it returns the offset after the last record
// it saw.
func (c *Client) fetchNulls(ctx context.Context, leader int32, topic string, id TopicID, partition int32, offset int64, want, out map[int64]bool) (int64, error) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = nullFetchBytes
	req.SessionEpoch = -1 // no fetch session
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = nullFetchBytes
	rp.CurrentLeaderEpoch, rp.LogStartOffset = -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := c.cl.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		return 0, err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return 0, err
	}
	next := offset
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.Partition != partition {
				continue
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				if errors.Is(err, kerr.OffsetOutOfRange) {
					return offset, nil // gone to retention
				}
				return 0, err
			}
			n, err := eachRecord(p.RecordBatches, func(off int64, null bool) {
				if want[off] {
					out[off] = null
				}
			})
			if err != nil {
				return 0, err
			}
			next = max(next, n)
		}
	}
	return next, nil
}

// eachRecord calls fn with the offset of each record in raw record
// batches (magic 2, compressed or not) and whether its value is null. It
// returns the offset after the last whole batch.
func eachRecord(raw []byte, fn func(offset int64, null bool)) (int64, error) {
	var next int64
	for len(raw) >= 17 {
		length := int(int32(binary.BigEndian.Uint32(raw[8:12])))
		if length < 0 || 12+length > len(raw) {
			break // a partial batch at the end of a response
		}
		batch := raw[:12+length]
		raw = raw[12+length:]
		if magic := batch[16]; magic != 2 {
			return 0, fmt.Errorf("record batch of message format v%d: only v2 (Kafka 0.11+) is read", magic)
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(batch); err != nil {
			return 0, fmt.Errorf("record batch at %d: %w", int64(binary.BigEndian.Uint64(batch)), err)
		}
		next = rb.FirstOffset + int64(rb.LastOffsetDelta) + 1
		if rb.Attributes&0x20 != 0 {
			continue // a transaction marker
		}
		recs := rb.Records
		if codec := rb.Attributes & 0x07; codec != 0 {
			var err error
			if recs, err = decompressor.Decompress(recs, kgo.CompressionCodecType(codec)); err != nil {
				return 0, fmt.Errorf("record batch at %d: %w", rb.FirstOffset, err)
			}
		}
		for i := int32(0); i < rb.NumRecords && len(recs) > 0; i++ {
			l, n := binary.Varint(recs)
			if n <= 0 || l < 0 || n+int(l) > len(recs) {
				return 0, fmt.Errorf("record batch at %d: record %d truncated", rb.FirstOffset, i)
			}
			var r kmsg.Record
			if err := r.ReadFrom(recs[:n+int(l)]); err != nil {
				return 0, fmt.Errorf("record batch at %d: record %d: %w", rb.FirstOffset, i, err)
			}
			fn(rb.FirstOffset+int64(r.OffsetDelta), r.Value == nil)
			recs = recs[n+int(l):]
		}
	}
	return next, nil
}
