// Package archive is the topic-archiver's domain: consume every allowed
// topic in a consumer group, store each message as BSON in S3, index it
// in PostgreSQL, announce it on NATS, and only then commit the offsets.
package archive

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/natsbus"
	"tributary.dev/services/topic-archiver/internal/index"
	"tributary.dev/services/topic-archiver/internal/kafkameta"
	"tributary.dev/services/topic-archiver/internal/store"
)

// Mode is how messages are laid out in S3.
type Mode string

const (
	ObjectMode  Mode = "object"  // one object per message (the original)
	SegmentMode Mode = "segment" // many documents per object, per partition
)

// Config is what the archiver needs; main fills it from the environment.
type Config struct {
	Brokers []string
	Group   string
	Dialer  *kafka.Dialer
	// Meta lists topics with their ids and reads offsets (kafkameta).
	Meta         *kafkameta.Client
	Topics       Selector
	Mode         Mode
	Root         string // key prefix (bucket_path)
	SegmentBytes int
	SegmentAge   time.Duration
	// SegmentMemory bounds the bytes held in open segments across all
	// partitions; 0: 4 × SegmentBytes.
	SegmentMemory int
	BatchSize     int
	// BatchBytes closes a batch once its messages (keys, values and
	// headers) reach this many bytes, even short of BatchSize, and sizes
	// the reader's fetch queue: memory is bounded by bytes, not by a
	// count that 1 MiB messages turn into gigabytes. 0: 64 MiB.
	BatchBytes     int
	BatchWait      time.Duration
	PutConcurrency int
	TopicRefresh   time.Duration
	// Once ends Run when every partition has been archived up to the end
	// offset it had when Run started (RUN_AS_SERVICE=false).
	Once bool
	// IdleExit, with Once, also ends Run if no message has come for this
	// long — a safety net for offsets that never arrive (transaction
	// markers, compaction), logged with the partitions left short.
	IdleExit time.Duration
	// Beat, when set, tells the health check the loop is alive. Run is
	// one long unit of work, so it beats on every turn of the fetch loop,
	// idle ones included: a loop that stops turning is a stuck archiver.
	Beat func()
	// ErrorRetention is how long archive_errors rows are kept; older ones
	// are deleted at most once per PruneEvery. 0: 30 days, every hour.
	ErrorRetention time.Duration
	PruneEvery     time.Duration
	// Stream is the JetStream stream archive.stored events are stored in.
	Stream StreamConfig
	// MetricTopics bounds the topics that get series of their own; the
	// rest are counted under "_other". 0: no bound.
	MetricTopics int
}

// Archiver runs the consume → store → index → commit loop.
type Archiver struct {
	cfg   Config
	store blob.Store
	ix    *index.Index
	bus   *natsbus.Bus // nil: no announcements
	log   *zap.Logger
	m     *Metrics
	segs  *segments
	// run is Run's context: once it is done, retries give up so that a
	// stop is not held hostage by an unavailable S3.
	run context.Context
	// pruned is when archive_errors was last pruned (zero: not yet).
	pruned time.Time
	// ids is the id each listed topic is archived under (topicids.go).
	ids atomic.Pointer[map[string]store.UUID]
	// resets are topics whose content changed under their id, waiting
	// for their next id; noCommit, topics whose offsets finish must not
	// commit (gone, or with a new id).
	resets   map[string]bool
	noCommit map[string]bool
	// refreshNow asks the loop to list topics at its next turn.
	refreshNow atomic.Bool
	// labels bounds the topic label of per-topic series (metrics.go).
	labels topicLabels
	// lagSeries are the lag series set at the last look (lag.go).
	lagSeries map[[2]string]bool
	// kick wakes the outbox publisher (outbox.go).
	kick chan struct{}
}

func (a *Archiver) stopping() bool { return a.run != nil && a.run.Err() != nil }

func (a *Archiver) beat() {
	if a.cfg.Beat != nil {
		a.cfg.Beat()
	}
}

// New builds an Archiver; bus may be nil.
func New(cfg Config, store blob.Store, ix *index.Index, bus *natsbus.Bus, log *zap.Logger, m *Metrics) *Archiver {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = DefaultBatchBytes
	}
	if cfg.BatchWait <= 0 {
		cfg.BatchWait = 200 * time.Millisecond
	}
	if cfg.PutConcurrency <= 0 {
		cfg.PutConcurrency = 16
	}
	if cfg.SegmentMemory <= 0 {
		cfg.SegmentMemory = 4 * cfg.SegmentBytes
	}
	if cfg.ErrorRetention <= 0 {
		cfg.ErrorRetention = 30 * 24 * time.Hour
	}
	if cfg.PruneEvery <= 0 {
		cfg.PruneEvery = time.Hour
	}
	if cfg.TopicRefresh <= 0 {
		cfg.TopicRefresh = 30 * time.Second
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true}
	}
	a := &Archiver{cfg: cfg, store: store, ix: ix, bus: bus, log: log, m: m, labels: topicLabels{limit: cfg.MetricTopics}, kick: make(chan struct{}, 1)}
	a.segs = newSegments(a)
	return a
}

// DefaultBatchBytes is BATCH_BYTES when unset.
const DefaultBatchBytes = 64 << 20

// largeMessage is the message size the fetch queue is sized for: Kafka's
// default message.max.bytes is about 1 MiB, so a queue of BatchBytes /
// largeMessage messages holds at most about BatchBytes of them.
const largeMessage = 1 << 20

// fetchLimits sizes kafka-go's reader by bytes. Its queue is counted in
// messages, so it gets as many as BatchBytes holds of the largest ones a
// default broker accepts (at least 16, at most a batch's count): with
// small messages that is still plenty to keep the stream flowing, since
// a full queue hands over one message per one taken out whatever its
// depth. A fetch asks for at most a sixteenth of BatchBytes (between 1
// and 4 MiB) per partition: a broker composes a fetch response whole, and
// one of many partitions × 16 MiB, with the fetch's short deadline, was
// seen to time out again and again on a busy broker with 1 MiB messages.
func fetchLimits(batchBytes, batchSize int) (maxBytes, queue int) {
	maxBytes = min(max(batchBytes/16, 1<<20), 4<<20)
	queue = min(max(batchBytes/largeMessage, 16), max(batchSize, 16))
	return maxBytes, queue
}

var errTopicsChanged = errors.New("topic set changed")

// newReader makes the group's reader for topics.
//
// One Reader with GroupTopics rather than kafka.ConsumerGroup: the Reader
// already does the group protocol, per-partition fetching, rebalances and
// explicit commits, and hands us one stream to batch from. Its topic list
// is fixed at creation, so a changed topic set means storing and
// committing what is held, closing it and making a new one — a rejoin
// every TOPIC_REFRESH at most, and only when topics come or go. A
// ConsumerGroup would need the same rejoin (its topics are fixed too)
// plus our own per-partition readers and commit plumbing. The broker
// answers a fetch as soon as it has a message (MinBytes 1); MaxWait is
// also kafka-go's deadline for that answer to arrive, which a response of
// large messages needs room for on a busy broker.
func (a *Archiver) newReader(topics []string) *kafka.Reader {
	maxBytes, queue := fetchLimits(a.cfg.BatchBytes, a.cfg.BatchSize)
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:               a.cfg.Brokers,
		GroupID:               a.cfg.Group,
		GroupTopics:           topics,
		Dialer:                a.cfg.Dialer,
		StartOffset:           kafka.FirstOffset,
		MinBytes:              1,
		MaxBytes:              maxBytes,
		MaxWait:               500 * time.Millisecond,
		QueueCapacity:         queue,
		CommitInterval:        0, // synchronous commits, only after storing
		WatchPartitionChanges: true,
		HeartbeatInterval:     time.Second,
		SessionTimeout:        10 * time.Second,
		RebalanceTimeout:      10 * time.Second,
		JoinGroupBackoff:      500 * time.Millisecond,
		ErrorLogger:           kafka.LoggerFunc(a.kafkaError),
	})
}

// kafkaError is kafka-go's error log: logged, counted, and, when it says
// a topic or an offset is gone — a topic deleted (and maybe created
// again), a partition read past its end — the topics are listed again at
// once rather than at the next TOPIC_REFRESH.
func (a *Archiver) kafkaError(msg string, args ...any) {
	text := fmt.Sprintf(msg, args...)
	a.m.KafkaClientErrors.Inc()
	a.log.Warn("kafka client", zap.String("error", text))
	if strings.Contains(text, "Unknown Topic Or Partition") || strings.Contains(text, "passed the last offset") {
		a.refreshNow.Store(true)
	}
}

// Run archives until ctx is done (or, with IdleExit, until caught up). A
// new or deleted topic, or one whose id changed, rebuilds the group's
// reader. On return every fetched message is stored and committed.
func (a *Archiver) Run(ctx context.Context) error {
	a.run = ctx
	// A run starts from what Kafka has committed, not from what an earlier
	// run that ended in an error held in memory.
	a.segs = newSegments(a)
	a.resets = map[string]bool{}
	if a.bus != nil {
		err := a.retry(ctx, "nats", "set up the "+a.cfg.Stream.Name+" stream", func() error { return ensureStream(ctx, a.bus, a.cfg.Stream) })
		if err != nil {
			return err
		}
		pctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); a.publishOutbox(pctx) }()
		defer func() {
			stop()
			<-done
			// What this run stored goes out before it returns, as far as
			// NATS lets it; the rest waits in the outbox for the next.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := a.drainOutbox(dctx); err != nil {
				a.log.Warn("announce stored messages before exiting; the outbox keeps them for the next run", zap.Error(err))
			}
		}()
	}
	return a.runLoop(ctx)
}

// runLoop lists topics, settles their ids and consumes them, again each
// time the set changes.
func (a *Archiver) runLoop(ctx context.Context) error {
	for {
		listed, err := Discover(ctx, a.cfg.Meta, a.cfg.Topics)
		topics := Names(listed)
		if err != nil {
			a.m.Errors.WithLabelValues("kafka").Inc()
			a.log.Warn("cannot list topics; retrying", zap.Error(err))
		}
		a.m.Topics.Set(float64(len(topics)))
		a.beat()
		if len(topics) == 0 {
			if a.cfg.Once && err == nil {
				a.log.Info("no topics to archive")
				return nil
			}
			if !sleep(ctx, min(a.cfg.TopicRefresh, 5*time.Second)) {
				return nil
			}
			continue
		}
		var changed []string
		err = a.retry(ctx, "postgres", "settle topic ids", func() error {
			var err error
			changed, err = a.assignTopicIDs(ctx, listed)
			return err
		})
		if err != nil {
			return err
		}
		a.dropGoneSeries(topics)
		// What was fetched and committed of a topic gone or under a new
		// id says nothing about the topic now: its offsets start again.
		a.segs.forget(func(topic string) bool { return !slices.Contains(topics, topic) || slices.Contains(changed, topic) })
		if len(changed) > 0 {
			err := a.retry(ctx, "kafka", "rewind recreated topics", func() error { return a.rewind(ctx, changed, topics) })
			if err != nil {
				return err
			}
		}
		a.log.Info("archiving topics", zap.Strings("topics", topics), zap.String("group", a.cfg.Group), zap.String("mode", string(a.cfg.Mode)))
		r := a.newReader(topics)
		var goal map[tp]int64
		if a.cfg.Once {
			if goal, err = a.goal(ctx, topics); err != nil {
				r.Close()
				return err
			}
		}
		err = a.consume(ctx, r, listed, goal)
		if cerr := r.Close(); cerr != nil {
			a.log.Debug("close reader", zap.Error(cerr))
		}
		if errors.Is(err, errTopicsChanged) {
			continue
		}
		return err
	}
}

// consume reads batches until ctx is done, the topic set changes, or (once
// mode) the stream goes idle.
func (a *Archiver) consume(ctx context.Context, r *kafka.Reader, topics []kafkameta.Topic, goal map[tp]int64) error {
	nextRefresh := time.Now().Add(a.cfg.TopicRefresh)
	lastMsg := time.Now()
	for {
		a.beat()
		if ctx.Err() != nil {
			return a.finish(context.WithoutCancel(ctx), r)
		}
		a.pruneErrors(ctx, time.Now())
		batch, err := a.fetch(ctx, r)
		if err != nil && ctx.Err() == nil {
			a.m.Errors.WithLabelValues("kafka").Inc()
			a.log.Warn("fetch", zap.Error(err))
			sleep(ctx, time.Second)
		}
		if len(batch) > 0 {
			lastMsg = time.Now()
			// The batch is stored with a context that survives SIGTERM:
			// a unit of work is finished, not cut in half.
			if err := a.handle(context.WithoutCancel(ctx), r, batch); err != nil {
				return err
			}
		}
		if err := a.segs.flushAged(context.WithoutCancel(ctx), r, false); err != nil {
			return err
		}
		if len(a.resets) > 0 {
			// A topic changed under us: store and commit the rest, give
			// it its next id, and rejoin (which rewinds it).
			if err := a.finish(context.WithoutCancel(ctx), r); err != nil {
				return err
			}
			now, err := Discover(ctx, a.cfg.Meta, a.cfg.Topics)
			if err == nil {
				err = a.takeResets(ctx, now)
			}
			if err != nil {
				return fmt.Errorf("take up changed topics again: %w", err)
			}
			return errTopicsChanged
		}
		if a.cfg.Once {
			if a.segs.fetchedAll(goal) {
				if err := a.finish(context.WithoutCancel(ctx), r); err != nil {
					return err
				}
			}
			short := a.segs.short(goal)
			if len(short) == 0 {
				a.log.Info("caught up: every partition archived to its end offset")
				return a.finish(context.WithoutCancel(ctx), r)
			}
			if a.cfg.IdleExit > 0 && time.Since(lastMsg) > a.cfg.IdleExit {
				// What was fetched is stored and committed, but the pass
				// did not do what it was asked: the exit code says so.
				if err := a.finish(context.WithoutCancel(ctx), r); err != nil {
					return err
				}
				return fmt.Errorf("no message for %s with partitions short of their end offset: %v", a.cfg.IdleExit, short)
			}
		}
		if time.Now().After(nextRefresh) || a.refreshNow.Swap(false) {
			nextRefresh = time.Now().Add(a.cfg.TopicRefresh)
			now, err := Discover(ctx, a.cfg.Meta, a.cfg.Topics)
			if err == nil {
				a.updateLag(ctx, now)
			}
			if err == nil && !slices.Equal(now, topics) {
				a.log.Info("topic set changed; rejoining the group", zap.Strings("topics", Names(now)))
				// Topics gone or with a new id keep what was fetched of
				// them stored, but their offsets are not committed: the
				// broker dropped them with the topic, and they belong to
				// what was there before.
				a.noCommit = changedTopics(topics, now)
				err := a.finish(context.WithoutCancel(ctx), r)
				a.noCommit = nil
				if err != nil {
					return err
				}
				return errTopicsChanged
			}
		}
	}
}

// changedTopics are the topics of was that are gone from now or have
// another id there.
func changedTopics(was, now []kafkameta.Topic) map[string]bool {
	ids := map[string]kafkameta.TopicID{}
	for _, t := range now {
		ids[t.Name] = t.ID
	}
	out := map[string]bool{}
	for _, t := range was {
		if id, ok := ids[t.Name]; !ok || id != t.ID {
			out[t.Name] = true
		}
	}
	return out
}

// goal is, per partition, the offset a one-shot run must reach: the end
// offset now, known to be reached already where the index has it under
// the topic's current id (or from before ids were kept).
func (a *Archiver) goal(ctx context.Context, topics []string) (map[tp]int64, error) {
	ends, err := EndOffsets(ctx, a.cfg.Meta, topics)
	if err != nil {
		return nil, fmt.Errorf("read end offsets: %w", err)
	}
	archived, err := a.ix.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	have := map[tp]int64{}
	for _, p := range archived {
		if p.TopicID != a.topicID(p.Topic) && p.TopicID != (store.UUID{}) {
			continue
		}
		k := tp{p.Topic, int(p.Partition)}
		if cur, ok := have[k]; !ok || p.MaxOffset > cur {
			have[k] = p.MaxOffset
		}
	}
	goal := map[tp]int64{}
	for _, e := range ends {
		k := tp{e.Topic, e.Partition}
		if max, ok := have[k]; e.End > 0 && (!ok || max < e.End-1) {
			goal[k] = e.End - 1
		}
	}
	return goal, nil
}

// finish stores what is pending and commits it.
func (a *Archiver) finish(ctx context.Context, r *kafka.Reader) error {
	return a.segs.flushAged(ctx, r, true)
}

// fetch collects up to BatchSize messages or BatchBytes bytes, whichever
// comes first, waiting at most BatchWait once the first has arrived. A
// message bigger than BatchBytes is a batch of its own.
func (a *Archiver) fetch(ctx context.Context, r *kafka.Reader) ([]kafka.Message, error) {
	first, cancel := context.WithTimeout(ctx, max(a.cfg.BatchWait, 250*time.Millisecond))
	m, err := r.FetchMessage(first)
	cancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return nil, nil
		}
		return nil, err
	}
	batch := []kafka.Message{m}
	size := messageBytes(m)
	rest, cancel := context.WithTimeout(ctx, a.cfg.BatchWait)
	defer cancel()
	for len(batch) < a.cfg.BatchSize && size < a.cfg.BatchBytes {
		m, err := r.FetchMessage(rest)
		if err != nil {
			break
		}
		batch = append(batch, m)
		size += messageBytes(m)
	}
	return batch, nil
}

// messageBytes is what a fetched message holds in memory, near enough:
// key, value and headers.
func messageBytes(m kafka.Message) int {
	n := len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
