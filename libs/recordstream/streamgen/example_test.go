package streamgen_test

import (
	"fmt"
	"time"

	"tributary.dev/libs/recordstream/streamgen"
)

// A two-node network writes two files, the first with a sidecar; node
// 0.0.4 serves a tampered copy of the second. The objects are what a
// bucket of the network holds; streamgen.Upload puts them into a
// blob.Store.
func ExampleNetwork_Stream() {
	net, err := streamgen.NewNetwork(2)
	if err != nil {
		panic(err)
	}
	gen := net.Stream(streamgen.Options{
		Start:        time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC),
		SidecarEvery: 2,
	})
	for i := range 2 {
		f, err := gen.Next()
		if err != nil {
			panic(err)
		}
		if i == 1 {
			if err := f.SetFault("0.0.4", streamgen.Tampered); err != nil {
				panic(err)
			}
		}
		objs, err := f.Objects("recordstreams/")
		if err != nil {
			panic(err)
		}
		for _, o := range objs {
			fmt.Println(o.Key)
		}
	}
	// Output:
	// recordstreams/record0.0.3/2024-05-06T07_08_09.000000010Z.rcd.gz
	// recordstreams/record0.0.3/sidecar/2024-05-06T07_08_09.000000010Z_01.rcd.gz
	// recordstreams/record0.0.3/2024-05-06T07_08_09.000000010Z.rcd_sig
	// recordstreams/record0.0.4/2024-05-06T07_08_09.000000010Z.rcd.gz
	// recordstreams/record0.0.4/sidecar/2024-05-06T07_08_09.000000010Z_01.rcd.gz
	// recordstreams/record0.0.4/2024-05-06T07_08_09.000000010Z.rcd_sig
	// recordstreams/record0.0.3/2024-05-06T07_08_11.000000010Z.rcd.gz
	// recordstreams/record0.0.3/2024-05-06T07_08_11.000000010Z.rcd_sig
	// recordstreams/record0.0.4/2024-05-06T07_08_11.000000010Z.rcd.gz
	// recordstreams/record0.0.4/2024-05-06T07_08_11.000000010Z.rcd_sig
}
