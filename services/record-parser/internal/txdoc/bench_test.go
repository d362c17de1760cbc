package txdoc

import (
	"crypto/sha512"
	"path/filepath"
	"testing"
	"time"

	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/txgen"
)

// generatedFile is a v6 record file of n txgen items, read back.
func generatedFile(tb testing.TB, n int) *recordstream.RecordFile {
	tb.Helper()
	items := txgen.Items(n, 1, time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	data, err := recordstream.EncodeV6(recordstream.HAPIVersion{Major: 0, Minor: 50}, make([]byte, 48), 1000, items, nil)
	if err != nil {
		tb.Fatal(err)
	}
	f, err := recordstream.Parse("2024-05-01T12_00_00.000000000Z.rcd", data)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// BenchmarkAppend encodes every item of the performance/v2 fixture files
// (5,000 consensus messages each) and of a generated mainnet-like v6 file;
// it reports ns/item, items/s for one goroutine and the time as a
// multiple of SHA-384 over the same bytes (x-sha384).
func BenchmarkAppend(b *testing.B) {
	var sum [48]byte
	sets := []struct {
		name  string
		files []*recordstream.RecordFile
	}{
		{"performance-v2", []*recordstream.RecordFile{
			readFixture(b, "performance/v2/2020-02-09T18_30_00.000084Z.rcd"),
			readFixture(b, "performance/v2/2020-02-09T18_30_05.007359Z.rcd"),
			readFixture(b, "performance/v2/2020-02-09T18_30_10.001022Z.rcd"),
		}},
		{"txgen-v6-10000", []*recordstream.RecordFile{generatedFile(b, 10_000)}},
	}
	for _, set := range sets {
		b.Run(set.name, func(b *testing.B) {
			items := 0
			bytesIn := 0
			for _, f := range set.files {
				items += len(f.Items)
				for _, it := range f.Items {
					bytesIn += len(it.Transaction) + len(it.Record)
				}
			}
			// The floor the service is measured against: hashing each
			// item's bytes once with SHA-384, timed once per run.
			floorStart := time.Now()
			for _, f := range set.files {
				for _, it := range f.Items {
					h := sha512.New384()
					h.Write(it.Record)
					h.Write(it.Transaction)
					h.Sum(sum[:0])
				}
			}
			floorPerItem := float64(time.Since(floorStart).Nanoseconds()) / float64(items)
			enc := NewEncoder(Options{})
			buf := make([]byte, 0, 1<<20)
			b.SetBytes(int64(bytesIn))
			b.ResetTimer()
			for b.Loop() {
				for _, f := range set.files {
					src := Source{File: filepath.Base(f.Name), BlockNumber: f.BlockNumber, HasBlock: f.Version == 6}
					for i, it := range f.Items {
						buf, _ = enc.Append(buf[:0], src, i, it, nil)
					}
				}
			}
			perItem := float64(b.Elapsed().Nanoseconds()) / float64(b.N*items)
			b.ReportMetric(perItem, "ns/item")
			b.ReportMetric(1e9/perItem, "items/s")
			b.ReportMetric(perItem/floorPerItem, "x-sha384")
		})
	}
}
