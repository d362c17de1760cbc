package recordstream

// RunningHash is the running hash after folding items, in order, into
// start: the end running hash a v6 file stores, computed exactly as a
// reader recomputes it (RecordFile.EndRunningHash). Only Transaction and
// Record of each item are used. It exists for writers of streams, such as
// generators of test files; a reader never needs it.
func RunningHash(start []byte, items []Item) []byte {
	r := newRunningHash(start)
	for _, it := range items {
		r.add(it.Record, it.Transaction)
	}
	return r.sum
}
