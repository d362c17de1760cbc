package archive

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"tributary.dev/services/topic-archiver/internal/kafkameta"
)

// Selector decides which topics are archived: those matching Include,
// minus any matching a veto pattern. Kafka's internal topics (__…) are
// always vetoed.
type Selector struct {
	Include *regexp.Regexp
	Veto    []*regexp.Regexp
}

var internalTopic = regexp.MustCompile(`^__`)

// NewSelector compiles TOPICS and VETO_TOPICS. Patterns are anchored: a
// veto of "secret" vetoes that topic, not every topic containing it.
func NewSelector(include string, veto []string) (Selector, error) {
	s := Selector{Veto: []*regexp.Regexp{internalTopic}}
	if include == "" {
		include = ".*"
	}
	re, err := regexp.Compile("^(?:" + include + ")$")
	if err != nil {
		return s, fmt.Errorf("TOPICS: %w", err)
	}
	s.Include = re
	for _, v := range veto {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		re, err := regexp.Compile("^(?:" + v + ")$")
		if err != nil {
			return s, fmt.Errorf("VETO_TOPICS %q: %w", v, err)
		}
		s.Veto = append(s.Veto, re)
	}
	return s, nil
}

// Allowed reports whether topic is archived.
func (s Selector) Allowed(topic string) bool {
	if !s.Include.MatchString(topic) {
		return false
	}
	for _, v := range s.Veto {
		if v.MatchString(topic) {
			return false
		}
	}
	return true
}

// Discover lists the cluster's allowed topics with their ids, sorted by
// name. The metadata client tries every broker, under a deadline.
func Discover(ctx context.Context, meta *kafkameta.Client, sel Selector) ([]kafkameta.Topic, error) {
	all, err := meta.Topics(ctx)
	if err != nil {
		return nil, err
	}
	var topics []kafkameta.Topic
	for _, t := range all {
		if sel.Allowed(t.Name) {
			topics = append(topics, t)
		}
	}
	return topics, nil
}

// Names is the topics' names, in order.
func Names(topics []kafkameta.Topic) []string {
	out := make([]string, len(topics))
	for i, t := range topics {
		out[i] = t.Name
	}
	return out
}

// PartitionEnd is a partition's next offset to be written.
type PartitionEnd struct {
	Topic     string
	Partition int
	End       int64
}

// EndOffsets asks each partition's leader for its end offset, sorted by
// topic and partition. With no topics given it covers every topic.
func EndOffsets(ctx context.Context, meta *kafkameta.Client, topics []string) ([]PartitionEnd, error) {
	if len(topics) == 0 {
		all, err := meta.Topics(ctx)
		if err != nil {
			return nil, err
		}
		for _, t := range all {
			topics = append(topics, t.Name)
		}
	}
	parts, err := meta.PartitionsOf(ctx, topics)
	if err != nil {
		return nil, err
	}
	ends, err := meta.Ends(ctx, parts)
	if err != nil {
		return nil, err
	}
	out := make([]PartitionEnd, 0, len(parts))
	for _, p := range parts {
		if end, ok := ends[p]; ok {
			out = append(out, PartitionEnd{p.Topic, int(p.Partition), end})
		}
	}
	return out, nil
}
