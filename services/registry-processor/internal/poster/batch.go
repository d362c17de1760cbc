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
// It holds nothing back when that corp cannot fit one request anyway.
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
	if n > size {
		return rows, nil
	}
	post = make([]Row, 0, len(rows)-n)
	held = make([]Row, 0, n)
	for _, r := range rows {
		if r.Corp == last {
			held = append(held, r)
		} else {
			post = append(post, r)
		}
	}
	return post, held
}
