package stack

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/pg"
	loadersample "tributary.dev/services/s3-loader/sample"
	archiversample "tributary.dev/services/topic-archiver/sample"
)

// SampleDeliveryPath is where the sample DMS deliveries live in the
// delivery bucket.
const SampleDeliveryPath = loadersample.Path

// SampleLoaderEnv declares the DMS endpoint settings the sample
// deliveries were written with, for the s3-loader's environment.
var SampleLoaderEnv = loadersample.Env

// SampleVetoedTopic is the sample topic the archiver is told never to read.
const SampleVetoedTopic = archiversample.Vetoed

// Seed creates the sample tables, uploads the sample deliveries and the
// record streams (SeedRecords), and starts trickles of Kafka messages and
// record files that run until ctx is done.
func (st *Stack) Seed(ctx context.Context) error {
	pool, err := pg.Connect(ctx, st.PGDSN)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, loadersample.SchemaSQL); err != nil {
		return fmt.Errorf("sample tables: %w", err)
	}
	store, err := blob.Open(ctx, st.Bucket(DeliveryBucket, ""))
	if err != nil {
		return err
	}
	for _, f := range loadersample.Deliveries() {
		body := []byte(f.Body)
		if f.Gzip {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(body)
			zw.Close()
			body = b.Bytes()
		}
		key := SampleDeliveryPath + "/" + f.Key
		if err := store.Put(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil && !errors.Is(err, blob.ErrExists) {
			return fmt.Errorf("upload %s: %w", key, err)
		}
	}
	st.log.Info("sample deliveries uploaded", zap.Int("files", len(loadersample.Deliveries())), zap.String("bucket", DeliveryBucket), zap.String("path", SampleDeliveryPath))
	go func() {
		if err := archiversample.Trickle(ctx, st.KafkaBrokers(), nil, 2*time.Second); err != nil {
			st.log.Warn("kafka trickle stopped", zap.Error(err))
		}
	}()
	st.log.Info("kafka trickle started", zap.Strings("topics", archiversample.Topics), zap.String("vetoed", archiversample.Vetoed))
	if err := st.SeedRecords(ctx); err != nil {
		return fmt.Errorf("record streams: %w", err)
	}
	return nil
}
