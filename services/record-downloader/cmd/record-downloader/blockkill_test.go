package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/testkit"
	"tributary.dev/services/record-downloader/internal/blocksrc"
)

// kill -9 in the middle of writing a block, and between announcing blocks
// and saving their position: nothing partial under a final name, and the
// restart writes every block whole and announces each exactly once.
func TestKill9Blocks(t *testing.T) {
	for _, point := range []string{"write-block", "after-publish-blocks"} {
		t.Run(point, func(t *testing.T) {
			e := newBlockEnv(t)
			bs := generated(t, 6, 1, false)
			for _, b := range bs {
				e.putGCS(blocksrc.Key("mainnet", b.Number), b.Zstd())
			}
			args := e.blockArgs("START_BLOCK=0")
			testkit.KillAt(t, e.cmd(faultsBinary, nil, args...), point)
			stored := map[string][]byte{}
			for _, b := range bs {
				stored[blockstream.FileName(b.Number, blockstream.Zstd)] = b.Zstd()
			}
			checkWhole := func() {
				t.Helper()
				for _, rel := range e.blocksWritten() {
					got, _ := os.ReadFile(filepath.Join(e.dest, rel))
					want := stored[filepath.Base(rel)]
					if !bytes.Equal(got, want) {
						t.Errorf("%s: %d bytes under its final name, the block has %d", rel, len(got), len(want))
					}
				}
			}
			checkWhole()
			if point == "write-block" {
				if n := len(e.blockEvents()); n != 0 {
					t.Errorf("%d blocks announced before the first was written", n)
				}
				if tmp, _ := os.ReadDir(filepath.Join(e.dest, ".tmp")); len(tmp) == 0 {
					t.Error("no temp file: the kill did not come mid-write")
				}
			} else if n := len(e.blockEvents()); n == 0 {
				t.Error("nothing announced before the kill after publishing")
			}
			if code, stderr := e.run(binary, nil, args...); code != 0 {
				t.Fatalf("restart: exit %d: %s", code, stderr)
			}
			checkWhole()
			if got := e.blocksWritten(); strings.Join(got, " ") != strings.Join(wantFlat(bs[:5]), " ") {
				t.Fatalf("after the restart, written %v, want %v", got, wantFlat(bs[:5]))
			}
			ids := e.msgIDs()
			blocks := 0
			for id, n := range ids {
				if strings.HasSuffix(id, "/block") {
					blocks++
					if n != 1 {
						t.Errorf("%s announced %d times", id, n)
					}
				}
			}
			if blocks != 5 {
				t.Errorf("%d blocks announced, want 5", blocks)
			}
			if tmp, _ := os.ReadDir(filepath.Join(e.dest, ".tmp")); len(tmp) != 0 {
				t.Errorf("temp files left: %v", tmp)
			}
		})
	}
}
