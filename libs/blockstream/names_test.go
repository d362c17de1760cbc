package blockstream

import (
	"errors"
	"testing"
)

// Names as the mirror node writes them (BlockFile.getFilename,
// StreamFilenameTest): 19 digits, and in the bucket a "/" after every four.
func TestNames(t *testing.T) {
	cases := []struct {
		n    uint64
		file string
		path string
	}{
		{0, "0000000000000000000.blk.zstd", "0000/0000/0000/0000/000.blk.zstd"},
		{7, "0000000000000000007.blk.zstd", "0000/0000/0000/0000/007.blk.zstd"},
		{82297471, "0000000000082297471.blk.zstd", "0000/0000/0008/2297/471.blk.zstd"},
		{9999999999999999999, "9999999999999999999.blk.zstd", "9999/9999/9999/9999/999.blk.zstd"},
	}
	for _, c := range cases {
		if got := FileName(c.n, Zstd); got != c.file {
			t.Errorf("FileName(%d) = %s, want %s", c.n, got, c.file)
		}
		if got := ObjectPath(c.n, Zstd); got != c.path {
			t.Errorf("ObjectPath(%d) = %s, want %s", c.n, got, c.path)
		}
		for _, name := range []string{c.file, c.path, "mainnet/block/" + c.path} {
			got, err := ParseName(name)
			if err != nil || got != (Name{Number: c.n, Compression: Zstd}) {
				t.Errorf("ParseName(%s) = %+v, %v", name, got, err)
			}
		}
	}
	if got, err := ParseName("0000000000000000007.blk"); err != nil || got.Compression != Plain {
		t.Errorf(".blk: %+v %v", got, err)
	}
	if got, err := ParseName("0000/0000/0000/0000/007.blk.gz"); err != nil || got.Compression != Gzip || got.Number != 7 {
		t.Errorf(".blk.gz: %+v %v", got, err)
	}
	for _, bad := range []string{
		"", "7.blk.zstd", "0.blk.gz", "000000000000000007.blk.zstd", "00000000000000000007.blk.zstd",
		"000000000000000000000000000007858853.blk.gz", "0000/0000/0000/0000/07.blk.zstd",
		"0000/0000/0000/00000/07.blk.zstd", "0000/0000/000a/0000/007.blk.zstd", "+000000000000000007.blk",
		"0000000000000000007.blk.zstd.tmp", "0000000000000000007.rcd", "0000/0000/0000/0000/007.blk.zstd/",
		"99999999999999999999.blk",
	} {
		if n, err := ParseName(bad); !errors.Is(err, ErrMisnamed) {
			t.Errorf("ParseName(%q) = %+v, %v; want ErrMisnamed", bad, n, err)
		}
	}
}
