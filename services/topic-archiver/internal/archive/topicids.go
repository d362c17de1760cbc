package archive

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"tributary.dev/services/topic-archiver/internal/index"
	"tributary.dev/services/topic-archiver/internal/kafkameta"
	"tributary.dev/services/topic-archiver/internal/store"
)

// Topic ids. Every index row carries the id its topic had when it was
// archived, so a topic deleted and created again under its name — its
// offsets starting again at 0 — is archived beside the old one instead of
// being taken for its duplicates. The id is the broker's (KIP-516); where
// the broker has none (before Kafka 2.8), or a partition's content changes
// under an unchanged id (a log truncated by an unclean leader election),
// the archiver derives a new one from the old, so that what came before
// and what came after stay apart. archive_topics keeps the ids in use.

// nextTopicID derives the id that follows prev for topic: the same on
// every replica that sees the same change.
func nextTopicID(topic string, prev store.UUID) store.UUID {
	sum := sha256.Sum256(append([]byte("topic-archiver next topic id\x00"+topic+"\x00"), prev[:]...))
	var id store.UUID
	copy(id[:], sum[:])
	id[6] = id[6]&0x0f | 0x80 // version 8: derived, not the broker's
	id[8] = id[8]&0x3f | 0x80
	return id
}

// assignTopicIDs settles the id each listed topic is archived under and
// records new ones. It returns the topics whose id changed since the
// archiver last archived them — deleted and created again while it was
// stopped or since it last looked, or marked by resetTopic — so that
// their committed offsets, which belong to what was there before, can be
// rewound.
func (a *Archiver) assignTopicIDs(ctx context.Context, listed []kafkameta.Topic) (changed []string, err error) {
	latest, err := a.ix.LatestTopicIDs(ctx)
	if err != nil {
		return nil, err
	}
	ids := make(map[string]store.UUID, len(listed))
	var record []index.TopicSeen
	for _, t := range listed {
		// Topics take their metric labels in name order (see topicLabels).
		a.label(t.Name)
	}
	for _, t := range listed {
		broker := store.UUID(t.ID)
		rec, seen := latest[t.Name]
		var id store.UUID
		switch {
		case seen && rec.BrokerID == broker:
			id = rec.ID
		case broker != (store.UUID{}):
			id = broker
		case seen:
			id = nextTopicID(t.Name, rec.ID)
		default:
			id = nextTopicID(t.Name, store.UUID{})
		}
		if !seen || rec.ID != id {
			record = append(record, index.TopicSeen{Topic: t.Name, ID: id, BrokerID: broker})
		}
		// Changed since this process last read it, or, at its first
		// look, since it was last archived.
		prev := a.topicID(t.Name)
		if prev == (store.UUID{}) && seen {
			prev = rec.ID
		}
		if prev != (store.UUID{}) && prev != id {
			a.log.Warn("topic deleted and created again: archiving it under its new id, from its start",
				zap.String("topic", t.Name), zap.Stringer("was", prev), zap.Stringer("now", id))
			a.m.TopicResets.WithLabelValues(a.label(t.Name)).Inc()
			changed = append(changed, t.Name)
		}
		ids[t.Name] = id
	}
	if err := a.ix.RecordTopicIDs(ctx, record); err != nil {
		return nil, err
	}
	a.ids.Store(&ids)
	return changed, nil
}

// topicID is the id topic is archived under now.
func (a *Archiver) topicID(topic string) store.UUID {
	if ids := a.ids.Load(); ids != nil {
		return (*ids)[topic]
	}
	return store.UUID{}
}

// resetTopic marks a topic whose content changed under its id: nothing
// more of it is stored or committed until the archiver has given it its
// next id and rejoined the group.
func (a *Archiver) resetTopic(topic, why string) {
	if a.resets[topic] {
		return
	}
	a.resets[topic] = true
	a.log.Warn("topic changed under the archiver; taking it up again under a new id", zap.String("topic", topic), zap.String("why", why))
}

// takeResets gives the reset topics their next ids (unless the broker has
// already given them new ones, which assignTopicIDs then takes).
func (a *Archiver) takeResets(ctx context.Context, listed []kafkameta.Topic) error {
	var record []index.TopicSeen
	for _, t := range listed {
		if !a.resets[t.Name] {
			continue
		}
		latest, err := a.ix.LatestTopicIDs(ctx)
		if err != nil {
			return err
		}
		if rec, ok := latest[t.Name]; ok && rec.BrokerID == store.UUID(t.ID) {
			record = append(record, index.TopicSeen{Topic: t.Name, ID: nextTopicID(t.Name, rec.ID), BrokerID: rec.BrokerID})
		}
	}
	a.resets = map[string]bool{}
	return a.ix.RecordTopicIDs(ctx, record)
}

// rewind commits the start of each partition of topics for the group, so
// the next reader reads them from their first offset still kept: the
// offsets committed before belong to the topic as it was. It joins the
// group with a reader of its own to commit, then leaves; the caller makes
// the reader that then reads.
func (a *Archiver) rewind(ctx context.Context, topics, all []string) error {
	parts, err := a.cfg.Meta.PartitionsOf(ctx, topics)
	if err != nil {
		return err
	}
	starts, err := a.cfg.Meta.Starts(ctx, parts)
	if err != nil {
		return err
	}
	msgs := make([]kafka.Message, 0, len(starts))
	for p, start := range starts {
		// CommitMessages commits the offset after the message's.
		msgs = append(msgs, kafka.Message{Topic: p.Topic, Partition: int(p.Partition), Offset: start - 1})
	}
	r := a.newReader(all)
	defer r.Close()
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := r.CommitMessages(cctx, msgs...); err != nil {
		return fmt.Errorf("rewind %v to their start: %w", topics, err)
	}
	a.log.Info("committed offsets rewound to the start", zap.Strings("topics", topics), zap.Int("partitions", len(msgs)))
	return nil
}
