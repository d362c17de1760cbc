// Package fetch downloads one object whole, retrying what is worth
// retrying: a 5xx, a timeout, a connection dropped half way. A missing
// object is an answer, not a failure, and is returned at once. Each kind
// of object has a size cap, and only that many bytes are asked for (a
// ranged GET) and read, so a hostile or broken bucket that serves or
// announces gigabytes never makes the process hold more than the cap.
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
)

// Size caps per kind of object.
const (
	// SignatureMax: a signature file is a few hundred bytes (two 384-byte
	// signatures and two hashes in v5/v6).
	SignatureMax = 64 << 10
	// FileMax: record and sidecar files, the mirror node's limit
	// (CommonDownloaderProperties.maxSize, 50 MiB; S3StreamFileProvider
	// reads with Range bytes=0-(maxSize-1) and refuses a larger object).
	FileMax = 50 << 20
	// BlockMax: a block file, the mirror node's per-block limit
	// (StreamProperties, 512 MiB), which the block reader enforces too.
	BlockMax = 512 << 20
)

// Limit is the size cap of a kind of object ("signature", "record",
// "sidecar", "block").
func Limit(kind string) int64 {
	switch kind {
	case "signature":
		return SignatureMax
	case "block":
		return BlockMax
	}
	return FileMax
}

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

// Get reads key whole, at most Limit(kind) bytes: a larger object is
// refused with ErrTooLarge, not retried. kind ("record", "signature",
// "sidecar") also labels the latency and names the fault-injection point
// of a faults build.
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
		if errors.Is(err, blob.ErrNotFound) || errors.Is(err, ErrTooLarge) || ctx.Err() != nil {
			return nil, err
		}
		if f.Failed != nil {
			f.Failed(err)
		}
		last = err
	}
	return nil, fmt.Errorf("get %s: %d attempts: %w", key, attempts, last)
}

// ErrTooLarge: the object is larger than its kind's cap.
var ErrTooLarge = errors.New("object larger than its kind's size cap")

func (f *Fetcher) once(ctx context.Context, key, kind string) ([]byte, error) {
	limit := Limit(kind)
	// One byte more than the cap is asked for, to tell an object of
	// exactly the cap from a larger one; a server that ignores the range
	// is still read no further.
	rc, err := f.Store.ReadRange(ctx, key, 0, limit+1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	n, err := io.Copy(&buf, faults.Reader("download-"+kind, io.LimitReader(rc, limit+1)))
	if err != nil {
		return nil, fmt.Errorf("read %s after %d bytes: %w", key, n, err)
	}
	if n > limit {
		return nil, fmt.Errorf("read %s: %w (%s cap %d bytes)", key, ErrTooLarge, kind, limit)
	}
	return buf.Bytes(), nil
}
