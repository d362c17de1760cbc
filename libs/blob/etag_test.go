package blob

import (
	"context"
	"testing"
)

// TestListETag: S3 and GCS list each object with its ETag, and an object
// deleted and written again under the same key with other bytes lists
// with another one, so a reader that kept the first can tell the copies
// apart. A local directory has none.
func TestListETag(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			const key = "dms/dbo/orders/LOAD00000001.csv"
			etag := func() string {
				t.Helper()
				var got []Object
				if err := s.List(ctx, "dms/", "", func(o Object) error { got = append(got, o); return nil }); err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 || got[0].Key != key {
					t.Fatalf("listed %v, want only %s", got, key)
				}
				return got[0].ETag
			}
			put(t, s, key, "1,first snapshot\n")
			first := etag()
			if err := s.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			put(t, s, key, "1,second snapshot, longer\n")
			second := etag()
			if name == "local" {
				if first != "" || second != "" {
					t.Fatalf("a local directory listed ETags %q, %q", first, second)
				}
				return
			}
			if first == "" || second == "" || first == second {
				t.Fatalf("ETags of two different copies: %q and %q; want two different, non-empty tags", first, second)
			}
		})
	}
}
