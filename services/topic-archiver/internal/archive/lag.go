package archive

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"tributary.dev/services/topic-archiver/internal/kafkameta"
)

// updateLag sets the lag series from the cluster: per partition of every
// archived topic, its end offset less the group's committed offset (its
// log start where nothing is committed). Every replica of the group
// exports the same numbers. Series of partitions no longer there — a
// topic deleted, vetoed or revoked from the selection — are removed, and
// topics past METRIC_TOPICS are summed into one series.
func (a *Archiver) updateLag(ctx context.Context, topics []kafkameta.Topic) {
	names := Names(topics)
	parts, err := a.cfg.Meta.PartitionsOf(ctx, names)
	var ends, starts, committed map[kafkameta.Partition]int64
	if err == nil {
		ends, err = a.cfg.Meta.Ends(ctx, parts)
	}
	if err == nil {
		starts, err = a.cfg.Meta.Starts(ctx, parts)
	}
	if err == nil {
		committed, err = a.cfg.Meta.Committed(ctx, a.cfg.Group, names)
	}
	if err != nil {
		a.m.Errors.WithLabelValues("kafka").Inc()
		a.log.Warn("read lag", zap.Error(err))
		return
	}
	set := map[[2]string]float64{}
	for _, p := range parts {
		from, ok := committed[p]
		if !ok {
			from = starts[p]
		}
		lag := float64(max(0, ends[p]-from))
		key := [2]string{a.label(p.Topic), fmt.Sprint(p.Partition)}
		if key[0] == OtherTopics {
			key[1] = "all"
		}
		set[key] += lag
	}
	for k := range a.lagSeries {
		if _, ok := set[k]; !ok {
			a.m.Lag.DeleteLabelValues(k[0], k[1])
		}
	}
	a.lagSeries = map[[2]string]bool{}
	for k, v := range set {
		a.m.Lag.WithLabelValues(k[0], k[1]).Set(v)
		a.lagSeries[k] = true
	}
}

// dropGoneSeries removes the lag series of topics no longer archived.
func (a *Archiver) dropGoneSeries(topics []string) {
	keep := map[string]bool{OtherTopics: true}
	for _, t := range topics {
		keep[a.label(t)] = true
	}
	for k := range a.lagSeries {
		if !keep[k[0]] {
			a.m.Lag.DeleteLabelValues(k[0], k[1])
			delete(a.lagSeries, k)
		}
	}
}
