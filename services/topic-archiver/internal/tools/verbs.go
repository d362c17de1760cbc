package tools

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/progress"
	"tributary.dev/services/topic-archiver/internal/archive"
	"tributary.dev/services/topic-archiver/internal/index"
	"tributary.dev/services/topic-archiver/internal/store"
)

func list(ctx context.Context, env *Env, fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	counts, err := env.Index.Counts(ctx)
	if err != nil {
		return err
	}
	archived := map[string]index.TopicCount{}
	for _, c := range counts {
		archived[c.Topic] = c
	}
	topics, err := archive.Discover(ctx, env.Meta, archive.Selector{Include: matchAll})
	if err != nil {
		fmt.Fprintf(env.Out, "(Kafka not reachable: %v; archive only)\n", err)
	}
	all := archive.Names(topics)
	seen := map[string]bool{}
	tw := tabwriter.NewWriter(env.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tARCHIVED\tFIRST\tLAST\tSTATE")
	line := func(topic, state string) {
		c := archived[topic]
		first, last := "-", "-"
		if c.Messages > 0 {
			first, last = c.First.UTC().Format(time.RFC3339), c.Last.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%q\t%d\t%s\t%s\t%s\n", topic, c.Messages, first, last, state)
	}
	for _, t := range all {
		seen[t] = true
		state := "archived"
		if !env.Selector.Allowed(t) {
			state = "vetoed"
		}
		line(t, state)
	}
	for _, c := range counts {
		if !seen[c.Topic] {
			line(c.Topic, "not in Kafka")
		}
	}
	return tw.Flush()
}

func connect(ctx context.Context, env *Env, fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	var failed []string
	check := func(name string, err error) {
		if err != nil {
			failed = append(failed, name)
			fmt.Fprintf(env.Out, "%-10s FAIL  %v\n", name, err)
		} else {
			fmt.Fprintf(env.Out, "%-10s ok\n", name)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	topics, err := archive.Discover(cctx, env.Meta, env.Selector)
	if err == nil {
		fmt.Fprintf(env.Out, "           %d topics to archive\n", len(topics))
	}
	check("kafka", err)
	stop := errors.New("stop")
	err = env.Store.List(cctx, env.Root, "", func(blob.Object) error { return stop })
	if errors.Is(err, stop) {
		err = nil
	}
	check("s3", err)
	if env.Index == nil {
		check("postgres", errors.New("not reachable"))
	} else {
		check("postgres", env.Index.Ping(cctx))
	}
	switch {
	case env.Bus != nil:
		check("nats", env.Bus.Check(cctx))
	case env.NATSErr != nil:
		check("nats", env.NATSErr)
	default:
		fmt.Fprintf(env.Out, "%-10s not configured\n", "nats")
	}
	if len(failed) > 0 {
		return fmt.Errorf("unreachable: %s", strings.Join(failed, ", "))
	}
	return nil
}

func status(ctx context.Context, env *Env, fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	parts, err := env.Index.Partitions(ctx)
	if err != nil {
		return err
	}
	ends, err := archive.EndOffsets(ctx, env.Meta, nil)
	if err != nil {
		fmt.Fprintf(env.Out, "(Kafka not reachable: %v)\n", err)
	}
	// A topic deleted and created again has rows under each of its ids:
	// the partition's state is the current id's (or, for rows from before
	// ids were kept, theirs).
	current, err := env.Index.LatestTopicIDs(ctx)
	if err != nil {
		return err
	}
	state := map[string]index.PartitionState{}
	for _, p := range parts {
		if cur, ok := current[p.Topic]; ok && p.TopicID != cur.ID && p.TopicID != (store.UUID{}) {
			continue
		}
		k := fmt.Sprintf("%s\x00%d", p.Topic, p.Partition)
		if have, ok := state[k]; ok && have.TopicID != (store.UUID{}) {
			continue
		}
		state[k] = p
	}
	tw := tabwriter.NewWriter(env.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tEND\tARCHIVED UP TO\tLAG\tLAST STORED")
	for _, e := range ends {
		if !env.Selector.Allowed(e.Topic) {
			continue
		}
		p, ok := state[fmt.Sprintf("%s\x00%d", e.Topic, e.Partition)]
		upto, last, lag := "-", "-", e.End
		if ok {
			upto, last = fmt.Sprint(p.MaxOffset), p.LastStored.UTC().Format(time.RFC3339)
			lag = max(0, e.End-p.MaxOffset-1)
		}
		fmt.Fprintf(tw, "%q\t%d\t%d\t%s\t%d\t%s\n", e.Topic, e.Partition, e.End, upto, lag, last)
	}
	return tw.Flush()
}

func newID() store.UUID {
	var u store.UUID
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// testMessages makes n messages with known ids and awkward content: empty
// and binary payloads, non-UTF-8 header values, repeated header keys.
func testMessages(topic string, n, size int) ([]kafka.Message, []store.UUID) {
	msgs := make([]kafka.Message, n)
	ids := make([]store.UUID, n)
	for i := range msgs {
		ids[i] = newID()
		val := make([]byte, size)
		_, _ = rand.Read(val)
		if i%7 == 3 {
			val = []byte{}
		}
		msgs[i] = kafka.Message{
			Topic: topic,
			Key:   []byte(fmt.Sprintf("key-%d\xff", i)),
			Value: val,
			Time:  time.Now().Truncate(time.Millisecond),
			Headers: []kafka.Header{
				{Key: "_id", Value: ids[i][:]},
				{Key: "seq", Value: []byte(fmt.Sprint(i))},
				{Key: "dup", Value: []byte("one")},
				{Key: "dup", Value: []byte{0xc3, 0x28, 0x00}},
			},
		}
	}
	return msgs, ids
}

func writer(env *Env, topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr: kafka.TCP(env.Brokers...), Topic: topic, Transport: &kafka.Transport{Dial: env.Dialer.DialFunc, SASL: env.Dialer.SASLMechanism, TLS: env.Dialer.TLS},
		AllowAutoTopicCreation: true, BatchSize: 500, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll,
	}
}

// produce writes messages, retrying while a new topic is being created.
func produce(ctx context.Context, w *kafka.Writer, msgs []kafka.Message) error {
	var err error
	for attempt := 0; attempt < 40; attempt++ {
		if err = w.WriteMessages(ctx, msgs...); err == nil {
			return nil
		}
		if !errors.Is(err, kafka.UnknownTopicOrPartition) && !errors.Is(err, kafka.LeaderNotAvailable) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
	return err
}

func publish(ctx context.Context, env *Env, fs *flag.FlagSet, args []string) error {
	topic := fs.String("topic", env.TestTopic, "topic to send to")
	count := fs.Int("count", 10, "messages to send")
	size := fs.Int("size", 256, "payload bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	msgs, ids := testMessages("", *count, *size)
	w := writer(env, *topic)
	defer w.Close()
	if err := produce(ctx, w, msgs); err != nil {
		return fmt.Errorf("publish to %q: %w", *topic, err)
	}
	for _, id := range ids {
		fmt.Fprintln(env.Out, id)
	}
	return nil
}

func inspect(ctx context.Context, env *Env, fs *flag.FlagSet, args []string) error {
	raw := fs.Bool("raw", false, "write only the message bytes")
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: topic-archiver inspect <uuid> [--raw]")
	}
	id, err := store.ParseUUID(fs.Arg(0))
	if err != nil {
		return err
	}
	rows, err := env.Index.Lookup(ctx, id)
	if err != nil {
		return err
	}
	if *raw && len(rows) > 1 {
		return fmt.Errorf("%d archived messages carry _id %s (inspect without --raw lists them); --raw needs one", len(rows), id)
	}
	if len(rows) > 1 {
		fmt.Fprintf(env.Out, "%d archived messages carry _id %s (the producer reused it):\n\n", len(rows), id)
	}
	for i, row := range rows {
		rec, _, err := readRecord(ctx, env.Store, row)
		if err != nil {
			return err
		}
		if *raw {
			_, err := env.Out.Write(rec.Message)
			return err
		}
		if i > 0 {
			fmt.Fprintln(env.Out)
		}
		ts := rec.Time().Format(time.RFC3339Nano)
		if store.IndexTime(rec.TimestampMS).UnixMilli() != rec.TimestampMS {
			ts = fmt.Sprintf("%d ms as sent (indexed as %s)", rec.TimestampMS, ts)
		}
		fmt.Fprintf(env.Out, "uuid       %s\ntopic      %q (id %s)\npartition  %d\noffset     %d\ntimestamp  %s\nobject     s3://%s/%s [%d+%d]\nkey        %s\nheaders\n",
			id, rec.Topic, row.TopicID, rec.Partition, rec.Offset, ts, row.Bucket, row.Key, row.ByteOffset, row.ByteLength, showNullable(rec.Key))
		for _, h := range rec.Headers {
			fmt.Fprintf(env.Out, "  %s = %s\n", show(h.Key), show(h.Value))
		}
		if rec.Tombstone() {
			fmt.Fprintln(env.Out, "message    null (a tombstone)")
			continue
		}
		fmt.Fprintf(env.Out, "message    %d bytes\n%s\n", len(rec.Message), show(rec.Message))
	}
	return nil
}

// showNullable is show, or null for a null key.
func showNullable(b []byte) string {
	if b == nil {
		return "null"
	}
	return show(b)
}

// show prints text as a quoted string and anything else as hex.
func show(b []byte) string {
	if utf8.Valid(b) && !bytes.ContainsFunc(b, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' }) {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("0x%x", b)
}

// reorder moves flags before positional arguments, so `inspect <uuid>
// --raw` works as operators type it.
func reorder(args []string) []string {
	var flags, pos []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			flags = append(flags, a)
		} else {
			pos = append(pos, a)
		}
	}
	return append(flags, pos...)
}

type headerFlags map[string]string

func (h headerFlags) String() string { return fmt.Sprint(map[string]string(h)) }
func (h headerFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	h[k] = v
	return nil
}

func filterFlags(fs *flag.FlagSet) func() (index.Filter, error) {
	topic := fs.String("topic", "", "topic")
	since := fs.String("since", "", "from this time (RFC 3339)")
	until := fs.String("until", "", "before this time (RFC 3339)")
	limit := fs.Int("limit", 0, "at most this many (0: all)")
	headers := headerFlags{}
	fs.Var(headers, "header", "key=value a message header must have (repeatable)")
	return func() (index.Filter, error) {
		f := index.Filter{Topic: *topic, Limit: *limit, Headers: headers}
		var err error
		if f.Since, err = parseTime("since", *since); err != nil {
			return f, err
		}
		if f.Until, err = parseTime("until", *until); err != nil {
			return f, err
		}
		return f, nil
	}
}

func uuids(ctx context.Context, env *Env, fs *flag.FlagSet, args []string) error {
	filter := filterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := filter()
	if err != nil {
		return err
	}
	return env.Index.Select(ctx, f, func(r index.Row) error {
		_, err := fmt.Fprintf(env.Out, "%s\t%q\t%d\t%d\t%s\n", r.UUID, r.Topic, r.Partition, r.Offset, r.Time.UTC().Format(time.RFC3339Nano))
		return err
	})
}

// restoreBatchBytes is what restore gathers before it writes; a batch
// also closes at 1,000 messages. The writer's own batches are sized from
// the selection's largest message, so a message of any size the archive
// holds goes through.
const restoreBatchBytes = 16 << 20

func restore(ctx context.Context, env *Env, fs *flag.FlagSet, args []string) error {
	filter := filterFlags(fs)
	to := fs.String("to-topic", "", "topic to replay into (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := filter()
	if err != nil {
		return err
	}
	if *to == "" || f.Topic == "" {
		return errors.New("restore needs --topic and --to-topic")
	}
	largest, err := env.Index.Largest(ctx, f)
	if err != nil {
		return err
	}
	// Original order is each partition's offset order, not time order:
	// Kafka timestamps can go backwards within a partition.
	f.Order = index.ByOffset
	w := writer(env, *to)
	// A document is a little bigger than its message, so it bounds what
	// one record takes in a request; the writer refuses a message over
	// its BatchBytes.
	w.BatchBytes = max(1<<20, int64(largest)+64<<10) // kafka-go's default, or more
	// Keep each message in its original partition (modulo the target's
	// partition count), so per-partition order survives the replay.
	w.Balancer = kafka.BalancerFunc(func(m kafka.Message, partitions ...int) int {
		p := int(m.Partition) % len(partitions)
		return partitions[p]
	})
	w.BatchTimeout = 20 * time.Millisecond
	defer w.Close()
	cache := &segmentCache{store: env.Store}
	var batch []kafka.Message
	batchBytes, n, clamped := 0, 0, 0
	report := progress.New(os.Stderr, fmt.Sprintf("restore %q to %q: messages", f.Topic, *to))
	defer progress.Done(os.Stderr)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := produce(ctx, w, batch); err != nil {
			return fmt.Errorf("restore into %q: %w", *to, err)
		}
		n += len(batch)
		batch, batchBytes = batch[:0], 0
		report(n, 0)
		return nil
	}
	err = env.Index.Select(ctx, f, func(r index.Row) error {
		rec, err := cache.record(ctx, r)
		if err != nil {
			return fmt.Errorf("read %s: %w", r.UUID, err)
		}
		m, sent := rec.Kafka("")
		if !sent {
			clamped++
		}
		m.Partition = int(rec.Partition)
		batch = append(batch, m)
		batchBytes += int(r.ByteLength)
		if len(batch) == 1000 || batchBytes >= restoreBatchBytes {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	fmt.Fprintf(env.Out, "restored %d messages from %q to %q\n", n, f.Topic, *to)
	if clamped > 0 {
		fmt.Fprintf(env.Out, "%d of them have timestamps the Kafka client cannot write (outside 1678–2262); they were sent with the nearest it can (inspect shows the stored ones)\n", clamped)
	}
	return err
}

func logs(ctx context.Context, env *Env, fs *flag.FlagSet, args []string) error {
	limit := fs.Int("limit", 50, "how many")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lines, err := env.Index.RecentErrors(ctx, *limit)
	if err != nil {
		return err
	}
	for _, l := range lines {
		fmt.Fprintf(env.Out, "%s  %-8s %s\n", l.At.UTC().Format(time.RFC3339), l.Kind, l.Message)
	}
	if len(lines) == 0 {
		fmt.Fprintln(env.Out, "no errors recorded")
	}
	return nil
}

func cleanTests(ctx context.Context, env *Env, fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	keys, err := env.Index.Keys(ctx, env.TestTopic)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := env.Store.Delete(ctx, k); err != nil {
			return err
		}
	}
	n, err := env.Index.DeleteTopic(ctx, env.TestTopic)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Out, "removed %d messages and %d objects of %q\n", n, len(keys), env.TestTopic)
	return nil
}

// cleanDuplicates finds objects no index row points at. A running
// archiver has such objects for a moment — between its S3 put and its
// index insert — so it is safe beside one only because it never touches an
// object younger than --grace (by the store's LastModified) and asks the
// index about each candidate again immediately before deleting it.
// Objects whose keys are not the archiver's are never counted or touched.
func cleanDuplicates(ctx context.Context, env *Env, fs *flag.FlagSet, args []string) error {
	apply := fs.Bool("apply", false, "delete what is found (default: only report)")
	grace := fs.Duration("grace", time.Hour, "leave objects younger than this alone (by their LastModified): a running archiver indexes what it writes within moments, or, after a PostgreSQL outage, when it ends")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *grace < time.Second {
		return fmt.Errorf("--grace %s: at least 1s; a running archiver writes each object a moment before indexing it", *grace)
	}
	// Objects modified after this may still be on their way into the
	// index. The store's clock sets LastModified; an hour's grace dwarfs
	// any skew between it and ours.
	cutoff := time.Now().Add(-*grace)
	if *apply {
		if n, err := env.Index.DropStaleClaims(ctx); err != nil {
			return fmt.Errorf("clean-duplicates: %w", err)
		} else if n > 0 {
			fmt.Fprintf(env.Out, "dropped %d key claims left by a clean-duplicates that stopped half-way\n", n)
		}
	}
	var orphans []string
	var page []blob.Object
	young, foreign := 0, 0
	check := func() error {
		if len(page) == 0 {
			return nil
		}
		keys := make([]string, len(page))
		for i, o := range page {
			keys[i] = o.Key
		}
		known, err := knownKeys(ctx, env, keys)
		if err != nil {
			return err
		}
		for _, o := range page {
			switch {
			case known[o.Key]:
			case o.Modified.IsZero() || o.Modified.After(cutoff):
				young++ // an unknown age is not old enough either
			default:
				orphans = append(orphans, o.Key)
			}
		}
		page = page[:0]
		return nil
	}
	prefix := env.Root
	if prefix != "" {
		prefix += "/"
	}
	err := env.Store.List(ctx, prefix, "", func(o blob.Object) error {
		if _, err := store.ParseKey(env.Root, o.Key); err != nil {
			foreign++
			return nil
		}
		page = append(page, o)
		if len(page) == 1000 {
			return check()
		}
		return nil
	})
	if err == nil {
		err = check()
	}
	if err != nil {
		return fmt.Errorf("clean-duplicates: list %s: %w", prefix, err)
	}
	deleted, kept := 0, 0
	for _, k := range orphans {
		if !*apply {
			fmt.Fprintf(env.Out, "orphan %s\n", k)
			continue
		}
		// Claimed in PostgreSQL, for this key alone, right before deleting
		// it: the claim is refused if a row points at the key by now
		// (the listing may be minutes old), and from now until it is
		// released the archiver indexes nothing that points at the key —
		// an archiver that finds the object already there (written by a
		// run that died before indexing it) would otherwise index it
		// just as it goes.
		claimed, err := env.Index.ClaimKey(ctx, k)
		if err != nil {
			return fmt.Errorf("clean-duplicates: %w", err)
		}
		if !claimed {
			kept++
			fmt.Fprintf(env.Out, "kept %s: indexed since it was listed\n", k)
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = env.Store.Delete(dctx, k)
		cancel()
		if rerr := env.Index.ReleaseKey(context.WithoutCancel(ctx), k); err == nil {
			err = rerr
		}
		if err != nil {
			return fmt.Errorf("clean-duplicates: delete %s: %w", k, err)
		}
		deleted++
		fmt.Fprintf(env.Out, "orphan %s deleted\n", k)
	}
	if *apply {
		fmt.Fprintf(env.Out, "%d objects with no index row deleted", deleted)
		if kept > 0 {
			fmt.Fprintf(env.Out, ", %d kept (indexed meanwhile)", kept)
		}
	} else {
		fmt.Fprintf(env.Out, "%d objects with no index row found (dry run; --apply deletes them)", len(orphans))
	}
	fmt.Fprintf(env.Out, "; %d unindexed but younger than %s left alone", young, *grace)
	if foreign > 0 {
		fmt.Fprintf(env.Out, "; %d objects not of the archive's key layout ignored", foreign)
	}
	fmt.Fprintln(env.Out)
	return nil
}

// knownKeys asks the index which keys it points at, with a deadline.
func knownKeys(ctx context.Context, env *Env, keys []string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return env.Index.KnownKeys(ctx, keys)
}
