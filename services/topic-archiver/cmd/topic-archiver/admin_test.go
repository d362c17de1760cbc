package main

import (
	"context"
	be "encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"tributary.dev/services/topic-archiver/internal/store"
)

// Kafka administration and producing what kafka-go cannot (timestamps
// outside 1678–2262), with franz-go's client: a client that is not the
// archiver's own consumer, and speaks every request kfake answers.

func (e *procEnv) kgo(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.brokers...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopic creates topic with partitions and configs (name=value).
func (e *procEnv) createTopic(t testing.TB, topic string, partitions int32, configs ...string) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10_000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
	for _, c := range configs {
		name, value, _ := strings.Cut(c, "=")
		rc := kmsg.NewCreateTopicsRequestTopicConfig()
		rc.Name, rc.Value = name, kmsg.StringPtr(value)
		rt.Configs = append(rt.Configs, rc)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(e.ctx, e.kgo(t))
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// deleteTopic deletes topic and waits until it is gone.
func (e *procEnv) deleteTopic(t testing.TB, topic string) {
	t.Helper()
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 10_000
	req.TopicNames = []string{topic}
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(e.ctx, e.kgo(t))
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("delete topic %s: %v", topic, err)
	}
}

// topicID is topic's id as the broker has it now.
func (e *procEnv) topicID(t testing.TB, topic string) store.UUID {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(e.ctx, e.kgo(t))
	if err != nil || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("metadata of %s: %v %+v", topic, err, resp)
	}
	return store.UUID(resp.Topics[0].TopicID)
}

// deleteRecords moves partition's log start up to offset, as retention
// does.
func (e *procEnv) deleteRecords(t testing.TB, topic string, partition int32, offset int64) {
	t.Helper()
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 10_000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(e.ctx, e.kgo(t))
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("delete records of %s/%d up to %d: %v", topic, partition, offset, err)
	}
}

// produceRecords sends records as they are (partition, timestamp, null
// value and all) and waits for each.
func (e *procEnv) produceRecords(t testing.TB, recs ...*kgo.Record) {
	t.Helper()
	cl := e.kgo(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(16<<20), kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	for _, r := range recs {
		var err error
		for try := 0; try < 40; try++ {
			if err = cl.ProduceSync(ctx, r).FirstErr(); err == nil || !errors.Is(err, kerr.UnknownTopicOrPartition) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("produce to %s: %v", r.Topic, err)
		}
	}
}

// consumeAll reads every record of topic from its start until it has
// want of them or none comes for a while.
func (e *procEnv) consumeAll(t testing.TB, topic string, want int) []*kgo.Record {
	t.Helper()
	cl := e.kgo(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(64<<20))
	var out []*kgo.Record
	for len(out) < want {
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		if errs := fs.Errors(); len(errs) > 0 {
			if errors.Is(errs[0].Err, context.DeadlineExceeded) {
				break
			}
			t.Fatalf("consume %s: %v", topic, errs[0].Err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// stored reads the document an index row points at.
func (e *procEnv) stored(t testing.TB, key string, off, length int64) store.Record {
	t.Helper()
	rc, err := e.store.ReadRange(e.ctx, key, off, length)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	defer rc.Close()
	doc, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := store.Unmarshal(doc)
	if err != nil {
		t.Fatalf("%s@%d: %v", key, off, err)
	}
	return rec
}

// archived is one index row and its stored document.
type archived struct {
	topicID   store.UUID
	uuid      store.UUID
	partition int32
	offset    int64
	key       string
	ts        time.Time
	size      int
	rec       store.Record
}

// archivedOf reads every row of topic, in partition and offset order,
// with its document.
func (e *procEnv) archivedOf(t testing.TB, topic string) []archived {
	t.Helper()
	rows, err := e.pool.Query(e.ctx, `SELECT topic_id, uuid, partition, "offset", key, byte_offset, byte_length, timestamp, size
		FROM archive_messages WHERE topic = $1 ORDER BY partition, stored_at, "offset"`, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []archived
	type loc struct {
		key       string
		off, size int64
	}
	var locs []loc
	for rows.Next() {
		var a archived
		var l loc
		if err := rows.Scan(&a.topicID, &a.uuid, &a.partition, &a.offset, &a.key, &l.off, &l.size, &a.ts, &a.size); err != nil {
			t.Fatal(err)
		}
		l.key = a.key
		out = append(out, a)
		locs = append(locs, l)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for i, l := range locs {
		out[i].rec = e.stored(t, l.key, l.off, l.size)
	}
	return out
}

// runOnce runs the archiver to the current end of every partition.
func (e *procEnv) runOnce(t testing.TB, extra ...string) string {
	t.Helper()
	out, err := e.cmd(nil, append([]string{"RUN_AS_SERVICE=false", "IDLE_EXIT=45"}, extra...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("archiver %v: %v\n%s", extra, err, out)
	}
	return string(out)
}

// verb runs a verb of the binary and returns what it printed.
func (e *procEnv) verb(t testing.TB, args ...string) (string, error) {
	t.Helper()
	out, err := e.cmd(args).CombinedOutput()
	return string(out), err
}

func values(recs []*kgo.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		switch {
		case r.Value == nil:
			out[i] = fmt.Sprintf("%s=<null>", r.Key)
		default:
			out[i] = fmt.Sprintf("%s=%s", r.Key, r.Value)
		}
	}
	return out
}

// produceRaw writes one record with the timestamp ms exactly as given, in
// a record batch of its own built here: kafka-go and franz-go both write
// a time as its UnixNano / 1e6, which cannot hold the timestamps of
// producers that send nanoseconds or dates past 2262.
func (e *procEnv) produceRaw(t testing.TB, topic string, partition int32, ms int64, value string) {
	t.Helper()
	cl := e.kgo(t)
	rec := kmsg.Record{Value: []byte(value)}
	body := rec.AppendTo(nil)
	rec.Length = int32(len(body) - 1) // everything after the (one-byte, zero) length
	records := rec.AppendTo(nil)
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: 0, FirstTimestamp: ms, MaxTimestamp: ms,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: records}
	raw := b.AppendTo(nil)
	be.BigEndian.PutUint32(raw[8:12], uint32(len(raw)-12))
	be.BigEndian.PutUint32(raw[17:21], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, e.topicID(t, topic) // v13+ name topics by id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, raw
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("produce %q at %d ms to %s/%d: %v", value, ms, topic, partition, err)
	}
}
