// Package tools holds the archiver's utilities, verbs of the same binary:
// the original's list of operator actions, with structured flags instead
// of raw SQL.
package tools

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/natsbus"
	"tributary.dev/services/topic-archiver/internal/archive"
	"tributary.dev/services/topic-archiver/internal/index"
	"tributary.dev/services/topic-archiver/internal/kafkameta"
	"tributary.dev/services/topic-archiver/internal/store"
)

// Env is what every verb may use.
type Env struct {
	Out       io.Writer
	Log       *zap.Logger
	Index     *index.Index // nil only for connect when PostgreSQL is down
	Store     blob.Store
	Bus       *natsbus.Bus
	NATSErr   error
	Brokers   []string
	Dialer    *kafka.Dialer
	Meta      *kafkameta.Client
	Selector  archive.Selector
	Root      string
	TestTopic string
}

type verb struct {
	usage string
	run   func(ctx context.Context, env *Env, fs *flag.FlagSet, args []string) error
}

var verbs = map[string]verb{
	"list":             {"topics and their archive counts", list},
	"connect":          {"check Kafka, S3, PostgreSQL and NATS and say which fails", connect},
	"status":           {"lag per topic-partition and last stored time", status},
	"publish":          {"send test messages with known ids: --topic T --count N --size BYTES", publish},
	"verify":           {"publish N messages to the test topic, then compare sent, received and stored: --count N --timeout 60s", verify},
	"inspect":          {"print the stored messages carrying an _id (usually one): inspect <uuid> [--raw]", inspect},
	"uuids":            {"list archived ids: --topic T --since RFC3339 --until RFC3339 --header k=v --limit N", uuids},
	"restore":          {"replay archived messages: --topic T --since --until --to-topic X", restore},
	"logs":             {"recent errors: --limit N", logs},
	"db-logs":          {"same as logs", logs},
	"clean-tests":      {"remove the test topic's archive (objects and index rows)", cleanTests},
	"clean-duplicates": {"find objects no index row points at (left by crashes or older versions): --apply deletes them, --grace 1h leaves younger ones alone (safe beside a running archiver)", cleanDuplicates},
}

// Known reports whether name is a verb.
func Known(name string) bool { _, ok := verbs[name]; return ok }

// PrintVerbs lists the verbs for --help.
func PrintVerbs(w io.Writer) {
	names := make([]string, 0, len(verbs))
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-17s %s\n", n, verbs[n].usage)
	}
}

// Run runs one verb with its arguments.
func Run(ctx context.Context, env *Env, name string, args []string) error {
	v, ok := verbs[name]
	if !ok {
		return fmt.Errorf("unknown verb %q", name)
	}
	if env.Index == nil && name != "connect" {
		return errors.New("PostgreSQL is not reachable (topic-archiver connect says more)")
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Out)
	fs.Usage = func() { fmt.Fprintf(env.Out, "topic-archiver %s: %s\n", name, v.usage); fs.PrintDefaults() }
	return v.run(ctx, env, fs, args)
}

// readRecord fetches a message's document from S3 by its index row and
// holds it to the row's sha256.
func readRecord(ctx context.Context, s blob.Store, row index.Row) (store.Record, []byte, error) {
	rc, err := s.ReadRange(ctx, row.Key, row.ByteOffset, row.ByteLength)
	if err != nil {
		return store.Record{}, nil, err
	}
	defer rc.Close()
	doc, err := io.ReadAll(rc)
	if err != nil {
		return store.Record{}, nil, fmt.Errorf("read %s: %w", row.Key, err)
	}
	if err := checkSum(row, doc); err != nil {
		return store.Record{}, nil, err
	}
	rec, err := store.Unmarshal(doc)
	return rec, doc, err
}

// errSum is a stored document that does not match its index row.
var errSum = errors.New("the stored bytes do not match the index's sha256 (the object was changed or damaged)")

// checkSum holds a stored document to the SHA-256 its index row recorded.
func checkSum(row index.Row, doc []byte) error {
	if sum := sha256.Sum256(doc); !bytes.Equal(sum[:], row.SHA256) {
		return fmt.Errorf("message %s at s3://%s/%s [%d+%d]: %w", row.UUID, row.Bucket, row.Key, row.ByteOffset, row.ByteLength, errSum)
	}
	return nil
}

// segmentCache reads whole segment objects once and serves documents out
// of them, so a restore does one GET per segment rather than per message.
type segmentCache struct {
	store blob.Store
	key   string
	data  []byte
}

func (c *segmentCache) record(ctx context.Context, row index.Row) (store.Record, error) {
	if row.ByteOffset == 0 && row.Key != c.key {
		// Objects holding one message (object mode) are read as they are.
		if rec, _, err := readRecord(ctx, c.store, row); err == nil {
			return rec, nil
		} else if errors.Is(err, errSum) {
			return store.Record{}, err
		}
	}
	if row.Key != c.key {
		rc, err := c.store.Open(ctx, row.Key)
		if err != nil {
			return store.Record{}, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return store.Record{}, fmt.Errorf("read %s: %w", row.Key, err)
		}
		c.key, c.data = row.Key, data
	}
	end := row.ByteOffset + row.ByteLength
	if end > int64(len(c.data)) {
		return store.Record{}, fmt.Errorf("%s: message %s at %d+%d is past the object's %d bytes", row.Key, row.UUID, row.ByteOffset, row.ByteLength, len(c.data))
	}
	doc := c.data[row.ByteOffset:end]
	if err := checkSum(row, doc); err != nil {
		return store.Record{}, err
	}
	return store.Unmarshal(doc)
}

func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--%s %q: want RFC 3339 (2024-01-02T15:04:05Z) or a date", name, s)
}
