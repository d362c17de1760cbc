package blocknode_test

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "tributary.dev/libs/hederapb/blocknodepb"
	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/blocknode"
)

const (
	block7 = "hedera-mirror-node/blockstreams/0000/0000/0000/0000/007.blk.zstd"
	block8 = "hedera-mirror-node/blockstreams/0000/0000/0000/0000/008.blk.zstd"
)

// received is what one subscription delivered, read with the generated
// client exactly as a subscriber reads it.
type received struct {
	blocks [][]byte   // each block's items joined as a Block
	sets   [][][]byte // every item set, in order
	ends   []uint64   // BlockEnd numbers
	status pb.SubscribeStreamResponse_Code
	err    error // the stream's error (nil after a status or a clean end)
	open   []byte
}

func subscribe(t *testing.T, addr string, start, end uint64, wait time.Duration) received {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	stream, err := pb.NewBlockStreamSubscribeServiceClient(conn).SubscribeBlockStream(ctx, &pb.SubscribeStreamRequest{StartBlockNumber: start, EndBlockNumber: end})
	if err != nil {
		t.Fatal(err)
	}
	var r received
	var pending [][]byte
	for {
		resp, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.err = err
			}
			r.open = blocknode.JoinItems(pending)
			return r
		}
		switch v := resp.Response.(type) {
		case *pb.SubscribeStreamResponse_BlockItems:
			r.sets = append(r.sets, v.BlockItems.BlockItems)
			pending = append(pending, v.BlockItems.BlockItems...)
		case *pb.SubscribeStreamResponse_EndOfBlock:
			r.ends = append(r.ends, v.EndOfBlock.BlockNumber)
			r.blocks = append(r.blocks, blocknode.JoinItems(pending))
			pending = nil
		case *pb.SubscribeStreamResponse_Status:
			r.status = v.Status
			r.open = blocknode.JoinItems(pending)
			return r
		}
	}
}

func sha384Hex(b []byte) string {
	h := sha512.Sum384(b)
	return hex.EncodeToString(h[:])
}

func fixtureNode(t *testing.T) *blocknode.Server {
	t.Helper()
	s := testkit.BlockNode(t)
	for _, rel := range []string{block7, block8} {
		if _, err := s.Add(testkit.HederaBlock(t, rel)); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
	}
	return s
}

// The blocks arrive exactly as the files hold them: the published
// SHA-384 of each uncompressed file, block ends with the published numbers.
func TestServesFixturesByteForByte(t *testing.T) {
	exp := testkit.HederaBlocksExpected(t)
	s := fixtureNode(t)
	r := subscribe(t, s.Addr(), 7, 8, 30*time.Second)
	if r.err != nil || r.status != pb.SubscribeStreamResponse_SUCCESS {
		t.Fatalf("stream ended with %v / %v, want status SUCCESS", r.err, r.status)
	}
	if len(r.blocks) != 2 {
		t.Fatalf("got %d blocks, want 2", len(r.blocks))
	}
	for i, rel := range []string{block7, block8} {
		e := exp[rel]
		if r.ends[i] != e.BlockNumber {
			t.Errorf("block end %d = %d, want %d", i, r.ends[i], e.BlockNumber)
		}
		if got := sha384Hex(r.blocks[i]); got != e.SHA384Uncompressed {
			t.Errorf("%s: served block SHA-384 %s, want the published %s", rel, got, e.SHA384Uncompressed)
		}
	}
	// Both blocks fit in 1 MiB: one set each, as a block node sends them.
	if len(r.sets) != 2 || len(r.sets[0]) != exp[block7].Items {
		t.Errorf("got %d sets (first %d items), want 2 sets of whole blocks (%d items)", len(r.sets), len(r.sets[0]), exp[block7].Items)
	}
}

func TestServerStatusReportsRange(t *testing.T) {
	s := fixtureNode(t)
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := pb.NewBlockNodeServiceClient(conn)
	st, err := client.ServerStatus(ctx, &pb.ServerStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.FirstAvailableBlock != 7 || st.LastAvailableBlock != 8 || st.NextExpectedBlock != 9 {
		t.Errorf("status %v, want first 7 last 8 next 9", st)
	}
	s.ReportRange(100, 200)
	if st, err = client.ServerStatus(ctx, &pb.ServerStatusRequest{}); err != nil || st.FirstAvailableBlock != 100 || st.LastAvailableBlock != 200 {
		t.Errorf("after ReportRange: %v, %v; want 100..200", st, err)
	}
	s.FailStatus(status.Error(codes.Unavailable, "down"))
	if _, err = client.ServerStatus(ctx, &pb.ServerStatusRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("after FailStatus: %v, want Unavailable", err)
	}
}

func TestItemsPerSet(t *testing.T) {
	exp := testkit.HederaBlocksExpected(t)
	s := fixtureNode(t)
	s.SetItemsPerSet(3)
	r := subscribe(t, s.Addr(), 7, 7, 30*time.Second)
	if r.status != pb.SubscribeStreamResponse_SUCCESS || len(r.blocks) != 1 {
		t.Fatalf("got %d blocks, status %v, err %v", len(r.blocks), r.status, r.err)
	}
	n := exp[block7].Items
	if want := (n + 2) / 3; len(r.sets) != want {
		t.Errorf("got %d sets, want %d (of at most 3 items)", len(r.sets), want)
	}
	for i, set := range r.sets {
		if len(set) > 3 || len(set) == 0 {
			t.Errorf("set %d has %d items", i, len(set))
		}
	}
	if got := sha384Hex(r.blocks[0]); got != exp[block7].SHA384Uncompressed {
		t.Errorf("reassembled block SHA-384 %s, want %s", got, exp[block7].SHA384Uncompressed)
	}
}

func TestFaults(t *testing.T) {
	exp := testkit.HederaBlocksExpected(t)
	whole := testkit.HederaBlock(t, block8)
	items, err := blocknode.SplitItems(whole)
	if err != nil {
		t.Fatal(err)
	}
	half := blocknode.JoinItems(items[:len(items)/2])

	t.Run("stall", func(t *testing.T) {
		s := fixtureNode(t)
		s.Inject(blocknode.Fault{Kind: blocknode.Stall, Block: 8})
		r := subscribe(t, s.Addr(), 7, 8, 2*time.Second)
		if len(r.blocks) != 1 || status.Code(r.err) != codes.DeadlineExceeded || !bytes.Equal(r.open, half) {
			t.Errorf("got %d blocks, err %v, %d bytes of block 8; want block 7, then half of 8 (%d bytes) and silence until the deadline", len(r.blocks), r.err, len(r.open), len(half))
		}
	})
	t.Run("end mid-block", func(t *testing.T) {
		s := fixtureNode(t)
		s.Inject(blocknode.Fault{Kind: blocknode.EndMidBlock, Block: 8})
		r := subscribe(t, s.Addr(), 7, 8, 10*time.Second)
		if len(r.blocks) != 1 || r.err != nil || r.status != pb.SubscribeStreamResponse_UNKNOWN || !bytes.Equal(r.open, half) {
			t.Errorf("got %d blocks, err %v, status %v, %d bytes open; want block 7 then half of 8 and a clean end without status", len(r.blocks), r.err, r.status, len(r.open))
		}
	})
	t.Run("die", func(t *testing.T) {
		s := fixtureNode(t)
		s.Inject(blocknode.Fault{Kind: blocknode.Die, Block: 8, Times: 1})
		r := subscribe(t, s.Addr(), 7, 8, 10*time.Second)
		if len(r.blocks) != 1 || status.Code(r.err) != codes.Unavailable || !bytes.Equal(r.open, half) {
			t.Errorf("got %d blocks, err %v, %d bytes open; want block 7, half of 8, then a broken connection", len(r.blocks), r.err, len(r.open))
		}
		// Spent: the node serves again on the next connection.
		r = subscribe(t, s.Addr(), 8, 8, 10*time.Second)
		if len(r.blocks) != 1 || sha384Hex(r.blocks[0]) != exp[block8].SHA384Uncompressed {
			t.Errorf("after the fault: %d blocks, err %v", len(r.blocks), r.err)
		}
	})
	t.Run("tamper", func(t *testing.T) {
		s := fixtureNode(t)
		s.Inject(blocknode.Fault{Kind: blocknode.Tamper, Block: 8})
		r := subscribe(t, s.Addr(), 8, 8, 10*time.Second)
		if len(r.blocks) != 1 || r.status != pb.SubscribeStreamResponse_SUCCESS {
			t.Fatalf("got %d blocks, status %v, err %v", len(r.blocks), r.status, r.err)
		}
		got := r.blocks[0]
		diff := 0
		for i := range got {
			if i < len(whole) && got[i] != whole[i] {
				diff++
			}
		}
		if len(got) != len(whole) || diff != 1 {
			t.Errorf("tampered block: %d bytes (file %d), %d bytes differ; want one", len(got), len(whole), diff)
		}
	})
	t.Run("refuse", func(t *testing.T) {
		s := fixtureNode(t)
		s.Inject(blocknode.Fault{Kind: blocknode.Refuse, Block: 7, Code: pb.SubscribeStreamResponse_ERROR, Times: 1})
		if r := subscribe(t, s.Addr(), 7, 8, 10*time.Second); r.status != pb.SubscribeStreamResponse_ERROR || len(r.sets) != 0 {
			t.Errorf("got status %v after %d sets, want ERROR at once", r.status, len(r.sets))
		}
		if r := subscribe(t, s.Addr(), 7, 8, 10*time.Second); r.status != pb.SubscribeStreamResponse_SUCCESS || len(r.blocks) != 2 {
			t.Errorf("second subscription: status %v, %d blocks; want both blocks", r.status, len(r.blocks))
		}
		if got := s.Requests(); len(got) != 2 || got[0] != (blocknode.Request{Start: 7, End: 8}) {
			t.Errorf("requests %v", got)
		}
	})
}

func TestRefusesWhatItCannotServe(t *testing.T) {
	s := fixtureNode(t)
	for _, c := range []struct {
		start, end uint64
		want       pb.SubscribeStreamResponse_Code
	}{
		{6, 8, pb.SubscribeStreamResponse_NOT_AVAILABLE},
		{10, blocknode.Follow, pb.SubscribeStreamResponse_NOT_AVAILABLE},
		{8, 7, pb.SubscribeStreamResponse_INVALID_END_BLOCK_NUMBER},
	} {
		if r := subscribe(t, s.Addr(), c.start, c.end, 10*time.Second); r.status != c.want || len(r.sets) != 0 {
			t.Errorf("subscribe %d..%d: status %v after %d sets, want %v", c.start, c.end, r.status, len(r.sets), c.want)
		}
	}
}

// A follower at the tip gets a block as soon as it is added.
func TestFollowsNewBlocks(t *testing.T) {
	s := testkit.BlockNode(t)
	for n := uint64(40); n < 42; n++ {
		if got, err := s.Add(blocknode.GenerateBlock(n, 3)); err != nil || got != n {
			t.Fatalf("add generated %d: %d, %v", n, got, err)
		}
	}
	done := make(chan received, 1)
	go func() { done <- subscribe(t, s.Addr(), 40, 43, 30*time.Second) }()
	time.Sleep(200 * time.Millisecond)
	for n := uint64(42); n < 44; n++ {
		if _, err := s.Add(blocknode.GenerateBlock(n, 3)); err != nil {
			t.Fatal(err)
		}
	}
	r := <-done
	if r.status != pb.SubscribeStreamResponse_SUCCESS || len(r.ends) != 4 || r.ends[3] != 43 {
		t.Fatalf("follower got ends %v, status %v, err %v; want 40..43 and SUCCESS", r.ends, r.status, r.err)
	}
	for i, b := range r.blocks {
		if want := blocknode.GenerateBlock(40+uint64(i), 3); !bytes.Equal(b, want) {
			t.Errorf("block %d differs from the generated one", 40+i)
		}
		items, _ := blocknode.SplitItems(b)
		if len(items) != 2+2*3+2 {
			t.Errorf("block %d has %d items, want header, round, 3×(transaction, result), footer, proof", 40+i, len(items))
		}
	}
}
