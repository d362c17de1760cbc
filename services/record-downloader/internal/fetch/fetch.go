// Package fetch downloads one object whole, retrying what is worth
// retrying: a 5xx, a timeout, a connection dropped half way. A missing
// object is an answer, not a failure, and is returned at once.
package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/faults"
	"tributary.dev/libs/recordstream"
)

// Fetcher reads objects from one bucket.
type Fetcher struct {
	Store blob.Store
	// Attempts is how many times one object is tried (at least 1).
	Attempts int
	// Backoff is the first wait between attempts; it doubles, with
	// jitter, up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Observe is told each successful download's kind and duration;
	// Failed each failed attempt. Either may be nil.
	Observe func(kind string, d time.Duration)
	Failed  func(err error)
}

// Get reads key whole (at most recordstream.MaxFileSize bytes). kind
// ("record", "signature", "sidecar") labels the latency and names the
// fault-injection point of a faults build.
func (f *Fetcher) Get(ctx context.Context, key, kind string) ([]byte, error) {
	wait := f.Backoff
	attempts := max(1, f.Attempts)
	var last error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			d := wait/2 + rand.N(wait/2+1)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("get %s: %w (after %v)", key, ctx.Err(), last)
			case <-t.C:
			}
			wait = min(wait*2, f.MaxBackoff)
		}
		start := time.Now()
		data, err := f.once(ctx, key, kind)
		if err == nil {
			if f.Observe != nil {
				f.Observe(kind, time.Since(start))
			}
			return data, nil
		}
		if errors.Is(err, blob.ErrNotFound) || errors.Is(err, errTooLarge) || ctx.Err() != nil {
			return nil, err
		}
		if f.Failed != nil {
			f.Failed(err)
		}
		last = err
	}
	return nil, fmt.Errorf("get %s: %d attempts: %w", key, attempts, last)
}

var errTooLarge = errors.New("object larger than a record-stream file can be")

func (f *Fetcher) once(ctx context.Context, key, kind string) ([]byte, error) {
	rc, err := f.Store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	n, err := io.Copy(&buf, faults.Reader("download-"+kind, io.LimitReader(rc, recordstream.MaxFileSize+1)))
	if err != nil {
		return nil, fmt.Errorf("read %s after %d bytes: %w", key, n, err)
	}
	if n > recordstream.MaxFileSize {
		return nil, fmt.Errorf("read %s: %w (%d bytes)", key, errTooLarge, recordstream.MaxFileSize)
	}
	return buf.Bytes(), nil
}
