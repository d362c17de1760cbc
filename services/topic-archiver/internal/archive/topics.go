package archive

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/segmentio/kafka-go"
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

// Discover lists the cluster's topics and returns the allowed ones, sorted.
func Discover(ctx context.Context, dialer *kafka.Dialer, brokers []string, sel Selector) ([]string, error) {
	var lastErr error
	for _, b := range brokers {
		conn, err := dialer.DialContext(ctx, "tcp", b)
		if err != nil {
			lastErr = err
			continue
		}
		parts, err := conn.ReadPartitions()
		conn.Close()
		if err != nil {
			lastErr = err
			continue
		}
		seen := map[string]bool{}
		var topics []string
		for _, p := range parts {
			if !seen[p.Topic] && sel.Allowed(p.Topic) {
				seen[p.Topic] = true
				topics = append(topics, p.Topic)
			}
		}
		sort.Strings(topics)
		return topics, nil
	}
	return nil, fmt.Errorf("list topics from %v: %w", brokers, lastErr)
}

// PartitionEnd is a partition's next offset to be written.
type PartitionEnd struct {
	Topic     string
	Partition int
	End       int64
}

// EndOffsets asks each partition's leader for its end offset. With no
// topics given it covers every topic.
func EndOffsets(ctx context.Context, dialer *kafka.Dialer, brokers []string, topics []string) ([]PartitionEnd, error) {
	conn, err := dialer.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return nil, err
	}
	parts, err := conn.ReadPartitions(topics...)
	conn.Close()
	if err != nil {
		return nil, err
	}
	var out []PartitionEnd
	for _, p := range parts {
		lc, err := dialer.DialLeader(ctx, "tcp", fmt.Sprintf("%s:%d", p.Leader.Host, p.Leader.Port), p.Topic, p.ID)
		if err != nil {
			return out, err
		}
		end, err := lc.ReadLastOffset()
		lc.Close()
		if err != nil {
			return out, err
		}
		out = append(out, PartitionEnd{p.Topic, p.ID, end})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out, nil
}
