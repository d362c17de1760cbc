package testkit

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Kafka starts a kfake cluster (the real Kafka wire protocol, in process)
// for this test and returns its broker addresses. Topics are created on
// first use with partitions partitions each.
func Kafka(t testing.TB, opts ...kfake.Opt) []string {
	t.Helper()
	c := KafkaCluster(t, opts...)
	return c.ListenAddrs()
}

// KafkaCluster is Kafka for tests that need the cluster itself.
func KafkaCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := StartKafka(0, opts...)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// StartKafka runs a one-broker kfake cluster on port (0 for a free one)
// with auto topic creation on; opts add to or override the defaults.
func StartKafka(port int, opts ...kfake.Opt) (*kfake.Cluster, error) {
	base := []kfake.Opt{kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(1)}
	if port != 0 {
		base = append(base, kfake.Ports(port))
	}
	c, err := kfake.NewCluster(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kfake: %w", err)
	}
	return c, nil
}
