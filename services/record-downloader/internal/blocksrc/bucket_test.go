package blocksrc

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/testkit"
	"tributary.dev/services/record-downloader/internal/fetch"
)

// The network folder as the mirror node picks it: the greatest
// <network>-<12 digits>, the plain name below any dated one, nothing else.
func TestPickFolder(t *testing.T) {
	for _, c := range []struct {
		network string
		dirs    []string
		want    string
	}{
		{"mainnet", []string{"mainnet/"}, "mainnet"},
		{"testnet", []string{"testnet/", "testnet-202611250000/", "testnet-202501010000/"}, "testnet-202611250000"},
		{"testnet", []string{"testnet-2026/", "testnet-x/", "testnetwork/", "previewnet/", "testnet-202611250000x/"}, ""},
		{"previewnet", []string{"mainnet/", "previewnet-000000000001/"}, "previewnet-000000000001"},
		{"mainnet", nil, ""},
	} {
		got, err := PickFolder(c.network, c.dirs)
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("PickFolder(%s, %v) = %q, %v; want %q", c.network, c.dirs, got, err, c.want)
		}
		if err != nil && !strings.Contains(err.Error(), "BLOCK_NETWORK_FOLDER") {
			t.Errorf("error does not say how to fix it: %v", err)
		}
	}
}

// Block n's key is the mirror node's (StreamFilenameTest, BlockFile).
func TestKey(t *testing.T) {
	for n, want := range map[uint64]string{
		0:        "previewnet/block/0000/0000/0000/0000/000.blk.zstd",
		7:        "previewnet/block/0000/0000/0000/0000/007.blk.zstd",
		82297471: "previewnet/block/0000/0000/0008/2297/471.blk.zstd",
	} {
		if got := Key("previewnet", n); got != want {
			t.Errorf("Key(%d) = %s, want %s", n, got, want)
		}
	}
}

// Blocks hands over the bucket's blocks in order, fetching ahead, and
// stops at the first one the bucket does not have; the folder is found
// among look-alikes.
func TestBucketBlocks(t *testing.T) {
	ctx := context.Background()
	srv, name := testkit.GCS(t)
	store, err := blob.Open(ctx, testkit.GCSBucket(srv, name))
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string, body []byte) {
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: name, Name: key}, Content: body})
	}
	body := func(n uint64) []byte { return []byte(fmt.Sprintf("block %d", n)) }
	for n := uint64(10); n < 40; n++ {
		if n != 30 {
			put(Key("testnet-202611250000", n), body(n))
		}
		put(Key("testnet-202501010000", n), []byte("old network"))
	}
	put("testnetx/block/0000/0000/0000/0000/010.blk.zstd", []byte("another network"))
	f := &fetch.Fetcher{Store: store, Attempts: 2}
	b, err := NewBucket(store, f, BucketConfig{Scheme: "gs", Network: "testnet", Window: 4})
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	err = b.Blocks(ctx, 12, Follow, func(blk Block) error {
		if !bytes.Equal(blk.Data, body(blk.Number)) || blk.Object != Key("testnet-202611250000", blk.Number) || blk.Source != "gs://"+name {
			t.Errorf("block %d: %q from %s %s", blk.Number, blk.Data, blk.Source, blk.Object)
		}
		got = append(got, blk.Number)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 18 || got[0] != 12 || got[17] != 29 {
		t.Errorf("handed over %v, want 12…29 (30 is missing)", got)
	}
	got = nil
	if err := b.Blocks(ctx, 31, 33, func(blk Block) error { got = append(got, blk.Number); return nil }); err != nil || fmt.Sprint(got) != "[31 32 33]" {
		t.Errorf("Blocks(31, 33) = %v, %v", got, err)
	}
	blk, ok, err := One(ctx, b, 39)
	if err != nil || !ok || blk.Number != 39 {
		t.Errorf("One(39) = %d, %v, %v", blk.Number, ok, err)
	}
	if _, ok, err := One(ctx, b, 40); err != nil || ok {
		t.Errorf("One(40) = %v, %v; want not there", ok, err)
	}
	if _, err := NewBucket(store, f, BucketConfig{Scheme: "gs", Network: "testnet", Folder: "../x"}); err == nil {
		t.Error("a folder with .. accepted")
	}
}
