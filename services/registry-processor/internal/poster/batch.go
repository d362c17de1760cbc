package poster

// batches cuts rows into requests of at most size credentials, keeping
// each corp's rows together whenever the corp has no more than size of
// them. Rows are grouped by corp in order of first appearance (the queue
// is in generation order, one corp's rows after another's) and keep their
// order within the corp; a corp with more than size rows is cut into runs
// of size, as it cannot fit one request.
func batches(rows []Row, size int) [][]Row {
	if len(rows) == 0 {
		return nil
	}
	var order []string
	byCorp := map[string][]Row{}
	for _, r := range rows {
		if _, ok := byCorp[r.Corp]; !ok {
			order = append(order, r.Corp)
		}
		byCorp[r.Corp] = append(byCorp[r.Corp], r)
	}
	var out [][]Row
	var cur []Row
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
			cur = nil
		}
	}
	for _, corp := range order {
		g := byCorp[corp]
		for len(g) > 0 {
			n := min(len(g), size)
			if len(cur)+n > size {
				flush()
			}
			cur = append(cur, g[:n]...)
			g = g[n:]
		}
	}
	flush()
	return out
}

// holdBack splits off the rows of the page's last corp, which may go on in
// the next page, so that its rows are posted together with the rest of it.
// A corp with more than size rows keeps only the rows past its last full
// request.
func holdBack(rows []Row, size int) (post, held []Row) {
	if len(rows) == 0 {
		return rows, nil
	}
	last := rows[len(rows)-1].Corp
	n := 0
	for _, r := range rows {
		if r.Corp == last {
			n++
		}
	}
	// A corp too big for one request goes in full requests; only its
	// tail, which the next page may fill up, waits.
	keep := n % size
	if n <= size {
		keep = n
	}
	if keep == 0 {
		return rows, nil
	}
	post = make([]Row, 0, len(rows)-keep)
	held = make([]Row, 0, keep)
	seen := 0
	for _, r := range rows {
		if r.Corp == last {
			seen++
			if seen > n-keep {
				held = append(held, r)
				continue
			}
		}
		post = append(post, r)
	}
	return post, held
}
