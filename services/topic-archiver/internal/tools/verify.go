package tools

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"regexp"
	"time"

	"github.com/segmentio/kafka-go"

	"tributary.dev/services/topic-archiver/internal/archive"
	"tributary.dev/services/topic-archiver/internal/store"
)

var matchAll = regexp.MustCompile(`.*`)

// verify is the original's in-line check: publish N messages to the test
// topic, read them back from Kafka, wait for the archiver to store them,
// and compare as-sent, as-received and as-stored byte for byte and header
// for header. A running archiver must be consuming the test topic.
func verify(ctx context.Context, env *Env, fs *flag.FlagSet, args []string) error {
	count := fs.Int("count", 100, "messages to send")
	size := fs.Int("size", 512, "payload bytes")
	timeout := fs.Duration("timeout", 60*time.Second, "how long to wait for the archiver")
	if err := fs.Parse(args); err != nil {
		return err
	}
	topic := env.TestTopic
	if !env.Selector.Allowed(topic) {
		return fmt.Errorf("the test topic %q is vetoed or not selected: the archiver would never store it", topic)
	}
	sent, ids := testMessages(topic, *count, *size)
	for i := range sent {
		sent[i].Topic = ""
	}
	w := writer(env, topic)
	if err := produce(ctx, w, sent); err != nil {
		w.Close()
		return fmt.Errorf("publish to %q: %w", topic, err)
	}
	w.Close()

	received, err := readBack(ctx, env, topic, ids, *timeout)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(*timeout)
	stored := map[store.UUID]store.Record{}
	for len(stored) < len(ids) && time.Now().Before(deadline) {
		for _, id := range ids {
			if _, ok := stored[id]; ok {
				continue
			}
			found, err := env.Index.Lookup(ctx, id)
			if err != nil {
				continue
			}
			row := found[0]
			for _, r := range found {
				if r.Topic == topic {
					row = r
				}
			}
			rec, _, err := readRecord(ctx, env.Store, row)
			if err != nil {
				return fmt.Errorf("read stored %s: %w", id, err)
			}
			stored[id] = rec
		}
		if len(stored) < len(ids) {
			time.Sleep(250 * time.Millisecond)
		}
	}
	var problems []string
	for i, id := range ids {
		want := store.Record{Message: sent[i].Value, Key: sent[i].Key, Topic: topic}
		for _, h := range sent[i].Headers {
			want.Headers = append(want.Headers, store.Header{Key: []byte(h.Key), Value: h.Value})
		}
		if r, ok := received[id]; !ok {
			problems = append(problems, fmt.Sprintf("%s: not received from Kafka", id))
		} else if msg := compare(want, r, false); msg != "" {
			problems = append(problems, fmt.Sprintf("%s: received differs: %s", id, msg))
		}
		if s, ok := stored[id]; !ok {
			problems = append(problems, fmt.Sprintf("%s: not stored within %s", id, *timeout))
		} else if msg := compare(want, s, true); msg != "" {
			problems = append(problems, fmt.Sprintf("%s: stored differs: %s", id, msg))
		} else if r, ok := received[id]; ok && (r.Partition != s.Partition || r.Offset != s.Offset || r.TimestampMS != s.TimestampMS) {
			problems = append(problems, fmt.Sprintf("%s: stored at %d/%d@%d, received at %d/%d@%d", id, s.Partition, s.Offset, s.TimestampMS, r.Partition, r.Offset, r.TimestampMS))
		}
	}
	fmt.Fprintf(env.Out, "verify %q: %d sent, %d received, %d stored\n", topic, len(ids), len(received), len(stored))
	for _, p := range problems {
		fmt.Fprintln(env.Out, "  "+p)
	}
	if len(problems) > 0 {
		fmt.Fprintln(env.Out, "verdict: FAIL")
		return errors.New("verify failed")
	}
	fmt.Fprintln(env.Out, "verdict: PASS — every message identical as sent, as received and as stored")
	return nil
}

func compare(want, got store.Record, checkTopic bool) string {
	switch {
	case !bytes.Equal(want.Message, got.Message):
		return fmt.Sprintf("payload %d bytes, want %d", len(got.Message), len(want.Message))
	case !bytes.Equal(want.Key, got.Key):
		return fmt.Sprintf("key %x, want %x", got.Key, want.Key)
	case !store.SameHeaders(want.Headers, got.Headers):
		return fmt.Sprintf("headers %v, want %v", got.Headers, want.Headers)
	case checkTopic && got.Topic != want.Topic:
		return fmt.Sprintf("topic %q, want %q", got.Topic, want.Topic)
	}
	return ""
}

// readBack reads the test topic from the start of every partition, as an
// outside consumer (no group), until every id has been seen.
func readBack(ctx context.Context, env *Env, topic string, ids []store.UUID, timeout time.Duration) (map[store.UUID]store.Record, error) {
	want := map[store.UUID]bool{}
	for _, id := range ids {
		want[id] = true
	}
	ends, err := archive.EndOffsets(ctx, env.Meta, []string{topic})
	if err != nil {
		return nil, err
	}
	got := map[store.UUID]store.Record{}
	deadline := time.Now().Add(timeout)
	for _, e := range ends {
		if e.End == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: env.Brokers, Topic: topic, Partition: e.Partition, Dialer: env.Dialer, MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(kafka.FirstOffset); err != nil {
			r.Close()
			return nil, err
		}
		for {
			rctx, cancel := context.WithDeadline(ctx, deadline)
			m, err := r.ReadMessage(rctx)
			cancel()
			if err != nil {
				break
			}
			rec, id := store.FromMessage(m)
			if want[id] {
				got[id] = rec
			}
			if m.Offset >= e.End-1 {
				break
			}
		}
		r.Close()
	}
	return got, nil
}
