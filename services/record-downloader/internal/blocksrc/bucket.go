package blocksrc

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/blockstream"
	"tributary.dev/services/record-downloader/internal/fetch"
)

// Bucket is a block-stream bucket: block n is the object
// <network folder>/block/<n in 19 digits, "/" after every four>.blk.zstd,
// asked for by name, never listed for.
type Bucket struct {
	store   blob.Store
	fetch   *fetch.Fetcher
	scheme  string
	network string
	// window is how many blocks are fetched ahead of the one handed over.
	window int

	mu     sync.Mutex
	folder string // fixed, or found once
}

// BucketConfig describes a Bucket.
type BucketConfig struct {
	// Scheme is "gs" or "s3": how Name writes the bucket.
	Scheme string
	// Network is the network's name (mainnet, testnet, previewnet): the
	// network folder is found from it.
	Network string
	// Folder, when set, is the network folder, not looked for.
	Folder string
	// Window is how many blocks are fetched at once, ahead of the one
	// handed over (at least 1).
	Window int
}

// NewBucket reads blocks from store through f (its retries and size caps).
func NewBucket(store blob.Store, f *fetch.Fetcher, c BucketConfig) (*Bucket, error) {
	if c.Folder != "" {
		if err := CheckFolder(c.Folder); err != nil {
			return nil, err
		}
	}
	return &Bucket{store: store, fetch: f, scheme: c.Scheme, network: c.Network, window: max(1, c.Window), folder: c.Folder}, nil
}

func (b *Bucket) Name() string { return b.scheme + "://" + b.store.Bucket() }

func (b *Bucket) Kind() Kind { return KindBucket }

// Store is the bucket's store.
func (b *Bucket) Store() blob.Store { return b.store }

// folderName is a network folder: a plain name, no slash, nothing a key
// could be misread by.
var folderName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// CheckFolder accepts a network folder name as configured.
func CheckFolder(f string) error {
	if !folderName.MatchString(f) || strings.Contains(f, "..") {
		return fmt.Errorf("network folder %q: want a plain folder name such as mainnet or testnet-202611250000", f)
	}
	return nil
}

// Folder is the bucket's network folder, found as the mirror node finds
// it (AbstractStreamFileProvider.discoverNetwork): among the folders at
// the bucket's root, those named <network>-<12 digits> (a network reset
// starts a new one), the greatest; the plain <network> folder counts too,
// below any dated one. Found once, then kept.
func (b *Bucket) Folder(ctx context.Context) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.folder != "" {
		return b.folder, nil
	}
	dirs, err := b.store.Dirs(ctx, "")
	if err != nil {
		return "", fmt.Errorf("%s: find the %s folder: %w", b.Name(), b.network, err)
	}
	f, err := PickFolder(b.network, dirs)
	if err != nil {
		return "", fmt.Errorf("%s: %w", b.Name(), err)
	}
	b.folder = f
	return f, nil
}

// PickFolder chooses the network folder among the root's folders (each
// ending in "/", as Store.Dirs gives them).
func PickFolder(network string, dirs []string) (string, error) {
	pattern := regexp.MustCompile(`^` + regexp.QuoteMeta(network) + `(-[0-9]{12})?$`)
	best := ""
	var seen []string
	for _, d := range dirs {
		name := strings.TrimSuffix(d, "/")
		seen = append(seen, name)
		if pattern.MatchString(name) && name > best {
			best = name
		}
	}
	if best == "" {
		return "", fmt.Errorf("no folder %s or %s-<12 digits> at the bucket's root (found %v): check NETWORK, or name the folder in BLOCK_NETWORK_FOLDER", network, network, seen)
	}
	return best, nil
}

// Key is block n's object name in folder.
func Key(folder string, n uint64) string {
	return folder + "/block/" + blockstream.ObjectPath(n, blockstream.Zstd)
}

// Blocks fetches window blocks at a time, in parallel, and hands them
// over in order; the first block the bucket does not have ends it.
func (b *Bucket) Blocks(ctx context.Context, from, to uint64, fn func(Block) error) error {
	folder, err := b.Folder(ctx)
	if err != nil {
		return err
	}
	type result struct {
		data []byte
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	// The queue's capacity bounds the blocks fetched ahead (and held in
	// memory) of the one handed over.
	queue := make(chan chan result, b.window)
	wg.Go(func() {
		defer close(queue)
		for n := from; ; n++ {
			slot := make(chan result, 1)
			select {
			case queue <- slot:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				data, err := b.fetch.Get(ctx, Key(folder, n), "block")
				slot <- result{data, err}
			})
			if n == to {
				return
			}
		}
	})
	n := from
	for slot := range queue {
		r := <-slot
		if errors.Is(r.err, blob.ErrNotFound) {
			return nil
		}
		if r.err != nil {
			return fmt.Errorf("%s block %d: %w", b.Name(), n, r.err)
		}
		key := Key(folder, n)
		if err := fn(Block{Number: n, Name: key, Data: r.data, Object: key, Source: b.Name()}); err != nil {
			return err
		}
		n++
	}
	return ctx.Err()
}
