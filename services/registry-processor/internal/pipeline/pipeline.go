// Package pipeline is the registry-processor's event processor, the
// original's four stages as one run: find the events since the
// high-water mark and queue their corporations; load each queued corp's
// history and generate its credentials; post them. Every stage commits a
// whole batch in one transaction, so a kill -9 at any point leaves the
// event-processor database at a batch boundary from which the next run
// goes on: no event skipped, no credential generated twice.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/faults"
	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/runner"
	"tributary.dev/services/registry-processor/internal/colin"
	"tributary.dev/services/registry-processor/internal/creds"
	"tributary.dev/services/registry-processor/internal/epdb"
	"tributary.dev/services/registry-processor/internal/model"
	"tributary.dev/services/registry-processor/internal/pacific"
	"tributary.dev/services/registry-processor/internal/poster"
)

// Subjects of the announcements (proto/events/).
const (
	SubjectProcessed = "bcreg.events.processed"
	SubjectPosted    = "bcreg.credentials.posted"
)

// Publisher sends announcements (natsbus.Bus); nil: none.
type Publisher interface {
	Publish(ctx context.Context, subject, msgID string, payload []byte) error
}

// Config is how the stages run.
type Config struct {
	// BatchSize is how many queued corps are loaded and generated
	// together (CORP_BATCH_SIZE).
	BatchSize int
	// Now is the naive Pacific wall clock ("current_date" of the
	// original); nil: the real one.
	Now func() time.Time
	// Progress, when set, is told how far a long stage is.
	Progress func(stage string, done, total int)
	// Dates are the tz rules dates print with (PYTZ_TZDATA).
	Dates pacific.Rules
	// PageAbove is how many touched corps make a run one to page about
	// (CORPS_TOUCHED_PAGE); the run still goes on. 0: 100,000.
	PageAbove int
}

// Pipeline runs the stages.
type Pipeline struct {
	cfg  Config
	src  *colin.Source
	db   *epdb.DB
	post *poster.Poster // nil: no posting (tests of the staging alone)
	bus  Publisher
	log  *zap.Logger
	m    *Metrics
	host string
	// Beat tells /healthz a long stage is alive.
	Beat func()
}

// New returns a pipeline.
func New(cfg Config, src *colin.Source, db *epdb.DB, post *poster.Poster, bus Publisher, log *zap.Logger, m *Metrics) *Pipeline {
	if cfg.BatchSize < 1 {
		cfg.BatchSize = 1000
	}
	if cfg.Now == nil {
		cfg.Now = pacific.Now
	}
	if cfg.PageAbove <= 0 {
		cfg.PageAbove = 100_000
	}
	return &Pipeline{cfg: cfg, src: src, db: db, post: post, bus: bus, log: log, m: m, host: natsbus.Host()}
}

func (p *Pipeline) beat() {
	if p.Beat != nil {
		p.Beat()
	}
}

func (p *Pipeline) progress(stage string, done, total int) {
	if p.cfg.Progress != nil {
		p.cfg.Progress(stage, done, total)
	}
}

// Found is what FindEvents queued.
type Found struct {
	From, To epdb.Mark
	Corps    int
	Events   int  // source events past the high-water mark
	Paged    bool // more corps than Config.PageAbove: someone should look
}

// FindEvents queues every corp touched by an event since the high-water
// mark and moves the mark to the latest event at or before now, as the
// original's find-unprocessed-events: the same candidates (events at or
// after the mark's date, with no upper bound, the corp_state rows they
// start or end, FBO links either way), the same windows, the same sanity
// checks. More corps than Config.PageAbove is a warning and a run to page
// about, as the original's "cRaZy MaX" message was, not a stop.
func (p *Pipeline) FindEvents(ctx context.Context) (Found, error) {
	defer p.m.stage("find", time.Now())
	hw, err := p.db.HighWater(ctx)
	if err != nil {
		return Found{}, err
	}
	p.m.LastEvent.Set(float64(hw.EventID))
	if hw.EventID == 0 {
		return Found{From: hw, To: hw}, fmt.Errorf("the high-water mark is event 0: run `registry-processor initial-load` first (the original refuses to find events from 0 too)")
	}
	now := p.cfg.Now()
	if err := reasonable("previous event date (the high-water mark in last_event)", hw.EventDate, now); err != nil {
		return Found{From: hw, To: hw}, err
	}
	id, ts, _, err := p.src.MaxEventBefore(ctx, now)
	if err != nil {
		return Found{From: hw, To: hw}, err
	}
	if id == 0 {
		return Found{From: hw, To: hw}, fmt.Errorf("no source event at or before %s: the source's event table is empty or its clock is ahead (the original refuses a max event id of 0)", now.Format(time.DateTime))
	}
	if err := reasonable("latest source event date", ts, now); err != nil {
		return Found{From: hw, To: hw}, err
	}
	last := epdb.Mark{EventID: id, EventDate: ts}
	if id <= hw.EventID && !ts.After(hw.EventDate) {
		return Found{From: hw, To: hw}, nil
	}
	touched, err := p.src.CorpsSince(ctx, hw.EventDate, hw.EventID)
	if err != nil {
		return Found{From: hw, To: hw}, err
	}
	for _, bad := range touched.Invalid {
		p.log.Warn("a source event is not usable and was not queued", zap.String("problem", bad))
		p.m.Invalid.WithLabelValues("event").Inc()
	}
	found := Found{From: hw, To: last, Corps: len(touched.Corps), Events: touched.Events}
	switch {
	case len(touched.Corps) > p.cfg.PageAbove:
		found.Paged = true
		p.m.Paged.Inc()
		p.log.Error("more corps touched since the last run than expected: queued all the same; page someone to look (a reload in the source?)",
			zap.Int("corps", len(touched.Corps)), zap.Int("page_above", p.cfg.PageAbove), zap.Int64("since_event", hw.EventID))
	case len(touched.Corps) > 10_000:
		p.log.Warn("many corps touched since the last run", zap.Int("corps", len(touched.Corps)), zap.Int64("since_event", hw.EventID))
	}
	if err := p.db.Queue(ctx, touched.Corps, hw, last); err != nil {
		return Found{From: hw, To: hw}, err
	}
	faults.Point("after-queue")
	p.m.EventsFound.WithLabelValues().Add(float64(touched.Events))
	p.m.CorpsQueued.Add(float64(len(touched.Corps)))
	p.m.LastEvent.Set(float64(id))
	return found, nil
}

// reasonable is the original's sanity check on a date: within ten years
// of now.
func reasonable(what string, d, now time.Time) error {
	if d.Year() < now.Year()-10 || d.Year() > now.Year()+10 {
		return fmt.Errorf("%s %s is unreasonable: more than ten years from now (the original refuses it too)", what, d.Format(time.DateTime))
	}
	return nil
}

// InitialLoad queues every corporation of the source, from event 0 to
// the latest event, as the original's initial load; it refuses when the
// high-water mark has moved past 0 (the database was loaded already).
func (p *Pipeline) InitialLoad(ctx context.Context) (Found, error) {
	defer p.m.stage("initial-load", time.Now())
	hw, err := p.db.HighWater(ctx)
	if err != nil {
		return Found{}, err
	}
	if hw.EventID != 0 {
		// Queued before (an initial load that was stopped part way, or a
		// loaded database): the queue is processed, nothing queued again.
		p.log.Info("the corporations were queued before (the high-water mark is past event 0): processing what is left of the queue",
			zap.Int64("high_water_event", hw.EventID))
		return Found{From: hw, To: hw}, nil
	}
	// As the original's initial load: every corp with PREV (0,
	// 0001-01-01) and LAST the latest event with its effective date; the
	// high-water mark that event with its event_timestmp. One difference:
	// the original took the latest event of all, and an event stamped in
	// the future (a future-dated filing) put the mark in the future, so
	// the following runs, which look for events at or after it, skipped
	// every event until that day. Ours is the latest at or before now.
	id, ts, effective, err := p.src.MaxEventBefore(ctx, p.cfg.Now())
	if err != nil {
		return Found{}, err
	}
	if id == 0 {
		return Found{}, fmt.Errorf("initial-load: no source event at or before now: the source's event table is empty")
	}
	prev := epdb.Mark{EventID: 0, EventDate: epdb.MinEventDate}
	last := epdb.Mark{EventID: id, EventDate: effective}
	mark := epdb.Mark{EventID: id, EventDate: ts}
	const page = 20_000
	total := 0
	after := ""
	for {
		corps, err := p.src.AllCorps(ctx, after, page)
		if err != nil {
			return Found{}, err
		}
		if len(corps) == 0 {
			break
		}
		// Every corp's window is (0, last); the mark moves once every page
		// is queued: a run cut short queues them all again next time, and
		// a corp queued twice is harmless (its credentials are
		// deduplicated by hash).
		if err := p.db.Enqueue(ctx, corps, prev, last); err != nil {
			return Found{}, err
		}
		total += len(corps)
		after = corps[len(corps)-1]
		p.m.CorpsQueued.Add(float64(len(corps)))
		p.progress("initial-load: queue", total, 0)
		p.beat()
	}
	if err := p.db.MoveMark(ctx, mark); err != nil {
		return Found{}, err
	}
	p.m.LastEvent.Set(float64(id))
	return Found{From: prev, To: mark, Corps: total}, nil
}

// Processed is what ProcessQueue did.
type Processed struct {
	Corps, Credentials, Skipped, Failed int
}

// ProcessQueue loads and generates every queued corp, BatchSize at a
// time: the next batch is read and loaded from the source while the
// current one is generated (on every core) and committed.
func (p *Pipeline) ProcessQueue(ctx context.Context) (Processed, error) {
	defer p.m.stage("process", time.Now())
	var res Processed
	type loaded struct {
		rows  []epdb.QueueRow
		corps map[string]*model.Corp
		err   error
	}
	var loadTime, genTime, commitTime, waitTime time.Duration
	var loadMu sync.Mutex
	start := time.Now()
	defer func() {
		p.log.Info("processing done", zap.Int("corps", res.Corps), zap.Int("credentials", res.Credentials),
			zap.Duration("took", time.Since(start)), zap.Duration("loading", loadTime), zap.Duration("generating", genTime),
			zap.Duration("committing", commitTime), zap.Duration("waiting_for_loads", waitTime))
	}()
	fetch := func(after int64) loaded {
		t0 := time.Now()
		defer func() {
			loadMu.Lock()
			loadTime += time.Since(t0)
			loadMu.Unlock()
		}()
		rows, err := p.db.Due(ctx, after, p.cfg.BatchSize, p.cfg.Now())
		if err != nil || len(rows) == 0 {
			return loaded{err: err}
		}
		nums := make([]string, 0, len(rows))
		seen := map[string]bool{}
		for _, r := range rows {
			if !seen[r.Corp] {
				seen[r.Corp] = true
				nums = append(nums, r.Corp)
			}
		}
		corps, err := p.src.Load(ctx, nums)
		return loaded{rows: rows, corps: corps, err: err}
	}
	// Three stages overlap: the next batch loads while this one is
	// generated and the one before commits. Commits stay one at a time,
	// in queue order, so record ids keep the generation order.
	type committed struct {
		outcomes []epdb.Outcome
		inserted int
		took     time.Duration
		err      error
	}
	var pending chan committed
	settle := func() error {
		if pending == nil {
			return nil
		}
		c := <-pending
		pending = nil
		commitTime += c.took
		if c.err != nil {
			return c.err
		}
		faults.Point("after-commit")
		for _, o := range c.outcomes {
			res.Corps++
			switch o.Success {
			case "S":
				res.Skipped++
			case "N":
				res.Failed++
			}
			p.m.Corps.WithLabelValues(o.Success).Inc()
			for _, cr := range o.Creds {
				p.m.Generated.WithLabelValues(cr.TypeCd).Inc()
			}
		}
		res.Credentials += c.inserted
		p.m.Duplicates.Add(float64(countCreds(c.outcomes) - c.inserted))
		p.progress("process", res.Corps, 0)
		p.beat()
		return nil
	}
	cur := fetch(0)
	for cur.err == nil && len(cur.rows) > 0 {
		if runner.Stopping(ctx) {
			// The batch in hand is not started; it stays queued.
			p.log.Info("processing stops: shutting down", zap.Int("corps_processed", res.Corps))
			break
		}
		next := make(chan loaded, 1)
		go func(after int64) { next <- fetch(after) }(cur.rows[len(cur.rows)-1].RecordID)
		t0 := time.Now()
		outcomes := p.generate(cur.rows, cur.corps)
		genTime += time.Since(t0)
		if err := settle(); err != nil {
			<-next
			return res, err
		}
		ch := make(chan committed, 1)
		go func() {
			t := time.Now()
			n, err := p.db.Commit(ctx, outcomes)
			ch <- committed{outcomes, n, time.Since(t), err}
		}()
		pending = ch
		t2 := time.Now()
		cur = <-next
		waitTime += time.Since(t2)
	}
	if err := settle(); err != nil {
		return res, err
	}
	return res, cur.err
}

// tableOf is the table a problem names ("corp_name.start_event_id is
// NULL …" → corp_name).
func tableOf(problem string) string {
	if i := strings.IndexAny(problem, ". "); i > 0 {
		return problem[:i]
	}
	return "unknown"
}

func countCreds(outcomes []epdb.Outcome) int {
	n := 0
	for _, o := range outcomes {
		n += len(o.Creds)
	}
	return n
}

// generate turns a batch of queue rows into their outcomes, the rows
// split over the cores (generation is CPU work; the order is kept).
func (p *Pipeline) generate(rows []epdb.QueueRow, corps map[string]*model.Corp) []epdb.Outcome {
	out := make([]epdb.Outcome, len(rows))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(rows)/100))
	per := (len(rows) + workers - 1) / workers
	var wg sync.WaitGroup
	for from := 0; from < len(rows); from += per {
		to := min(from+per, len(rows))
		wg.Go(func() { p.generateRange(rows[from:to], corps, out[from:to]) })
	}
	wg.Wait()
	return out
}

func (p *Pipeline) generateRange(rows []epdb.QueueRow, corps map[string]*model.Corp, out []epdb.Outcome) {
	now := p.cfg.Now()
	for i, r := range rows {
		o := epdb.Outcome{Row: r}
		c := corps[r.Corp]
		if c == nil {
			// No corporation row: the original's corp_typ_cd is '' and
			// its scope check skips the corp, with no history row.
			res := creds.Generate(nil, creds.Window{}, now, p.cfg.Dates)
			o.Success, o.Msg, o.CorpState = "S", res.Skip, res.CorpState
			out[i] = o
			continue
		}
		res := p.generateOne(c, r, now)
		o.CorpState = res.CorpState
		switch {
		case res.Skip != "":
			o.Success, o.Msg = "S", res.Skip
		case res.Held != "":
			o.Success, o.Msg = "N", res.Held
		default:
			o.Success, o.Msg = "Y", c.TypeCd
		}
		// The original wrote the history row unless the corp's only news
		// was future-dated (no credentials, a requeue).
		if res.CorpJSON != "" && (len(res.Creds) > 0 || res.Requeue == nil) {
			o.CorpJSON = []byte(res.CorpJSON)
		}
		for _, pr := range c.Problems {
			p.m.Invalid.WithLabelValues(tableOf(pr)).Inc()
		}
		if res.Withdrawn {
			o.HistoryMsg = "Withdrawn"
		}
		if res.Requeue != nil {
			o.Requeue = &epdb.Requeue{
				Prev:    epdb.Mark{EventID: res.Requeue.PrevEventID, EventDate: res.Requeue.PrevEventDate},
				Last:    epdb.Mark{EventID: res.Requeue.LastEventID, EventDate: res.Requeue.LastEventDate},
				Release: res.Release,
			}
		}
		if o.Success == "Y" {
			for _, cr := range res.Creds {
				o.Creds = append(o.Creds, epdb.Cred{TypeCd: cr.TypeCd, ID: cr.ID, Schema: cr.Schema, Version: cr.Version,
					JSON: cr.JSON, Hash: cr.Hash, Reason: cr.Reason, CorpState: res.CorpState, Held: cr.Held})
			}
		}
		out[i] = o
	}
}

// generateOne never lets one corp's bad data take the run down.
func (p *Pipeline) generateOne(c *model.Corp, r epdb.QueueRow, now time.Time) (res creds.Result) {
	defer func() {
		if v := recover(); v != nil {
			res = creds.Result{Held: fmt.Sprintf("credential generation failed: %v", v)}
			p.log.Error("credential generation failed for a corp; it is marked N", zap.String("corp", c.Num), zap.Any("panic", v))
		}
	}()
	return creds.Generate(c, creds.Window{
		PrevEventID: r.Prev.EventID, PrevEventDate: r.Prev.EventDate,
		LastEventID: r.Last.EventID, LastEventDate: r.Last.EventDate,
	}, now, p.cfg.Dates)
}

// Post posts what is postable.
func (p *Pipeline) Post(ctx context.Context) (poster.Stats, error) {
	if p.post == nil {
		return poster.Stats{}, nil
	}
	defer p.m.stage("post", time.Now())
	done := 0 // onBatch calls come one at a time
	return p.post.Run(ctx, func(batch string, success, failed int) {
		p.publish(ctx, SubjectPosted, "posted/"+batch, map[string]any{"batch": batch, "success": success, "failed": failed})
		done += success + failed
		p.progress("post", done, 0)
		p.beat()
	})
}

// Run is one run of the service: find, process, post, announce. A stage
// that fails does not keep the next from running: what is queued is
// still processed and what is postable still posted, and the run is
// recorded in rp_runs with every error. Asked to stop, it starts no
// further stage.
func (p *Pipeline) Run(ctx context.Context) error {
	rec := p.Begin(ctx, "run")
	found, ferr := p.FindEvents(ctx)
	if ferr != nil {
		p.log.Error("finding events failed; queued corps are still processed and credentials posted", zap.Error(ferr))
	}
	var proc Processed
	var perr error
	if !runner.Stopping(ctx) {
		proc, perr = p.ProcessQueue(ctx)
		if perr != nil {
			p.log.Error("processing the queue failed; what is postable is still posted", zap.Error(perr))
		}
	}
	if found.To.EventID > found.From.EventID || proc.Corps > 0 {
		p.publish(ctx, SubjectProcessed, fmt.Sprintf("processed/%d-%d", found.From.EventID, found.To.EventID), map[string]any{
			"system": model.System, "from_event": found.From.EventID, "to_event": found.To.EventID,
			"corps": proc.Corps, "credentials": proc.Credentials})
	}
	var st poster.Stats
	var serr error
	if !runner.Stopping(ctx) {
		st, serr = p.Post(ctx)
	}
	err := errors.Join(ferr, perr, serr)
	note := ""
	if found.Paged {
		note = fmt.Sprintf("paged: %d corps touched, more than %d", found.Corps, p.cfg.PageAbove)
	}
	p.log.Info("run done", zap.Int64("from_event", found.From.EventID), zap.Int64("to_event", found.To.EventID),
		zap.Int("events", found.Events), zap.Int("corps_queued", found.Corps), zap.Int("corps_processed", proc.Corps), zap.Int("credentials", proc.Credentials),
		zap.Int("posted", st.Success), zap.Int("post_failed", st.Failed), zap.Int("unconfirmed", st.Unconfirmed+st.Orphaned), zap.Duration("took", time.Since(rec.Started)))
	rec.End(ctx, proc.Corps, proc.Credentials, st, note, err)
	p.RefreshGauges(context.WithoutCancel(ctx))
	if err != nil {
		p.m.Runs.WithLabelValues("failed").Inc()
		return err
	}
	p.m.Runs.WithLabelValues("success").Inc()
	return nil
}

// Begin records the start of a run of verb in rp_runs (a failure to
// record is logged, never fatal); End records how it went.
func (p *Pipeline) Begin(ctx context.Context, verb string) *Record {
	r := &Record{p: p, Run: epdb.Run{Verb: verb, Started: time.Now()}}
	if err := p.db.RecordRun(context.WithoutCancel(ctx), &r.Run); err != nil {
		p.log.Warn("run not recorded", zap.String("verb", verb), zap.Error(err))
	}
	return r
}

// Record is a run being recorded.
type Record struct {
	p *Pipeline
	epdb.Run
}

// End records the run's outcome: the corps and credentials it processed
// and posted, a note (a paged run), and its error.
func (r *Record) End(ctx context.Context, corps, generated int, st poster.Stats, note string, err error) {
	r.Finished, r.Corps, r.Generated = time.Now(), int64(corps), int64(generated)
	r.Posted, r.Failed, r.Unconfirmed = int64(st.Success), int64(st.Failed), int64(st.Unconfirmed+st.Orphaned)
	r.Note = note
	r.Err = errText(err)
	if rerr := r.p.db.RecordRun(context.WithoutCancel(ctx), &r.Run); rerr != nil {
		r.p.log.Warn("run not recorded", zap.String("verb", r.Verb), zap.Error(rerr))
	}
}

// RefreshGauges sets the outstanding, error and held gauges from the
// same counts `status` prints, and the high-water mark from last_event
// (so a restarted process shows it before its first run).
func (p *Pipeline) RefreshGauges(ctx context.Context) {
	counts, err := p.db.Status(ctx, time.Now())
	if err != nil {
		p.log.Warn("status counts not read", zap.Error(err))
		return
	}
	for _, c := range counts {
		p.m.Outstanding.WithLabelValues(c.Table).Set(float64(c.Outstanding))
		p.m.Errors.WithLabelValues(c.Table).Set(float64(c.Errors))
	}
	if h, err := p.db.Held(ctx, p.cfg.Now()); err == nil {
		p.m.Unconfirmed.Set(float64(h.Unconfirmed))
		p.m.FutureDated.Set(float64(h.Future))
	} else {
		p.log.Warn("held counts not read", zap.Error(err))
	}
	if hw, err := p.db.HighWater(ctx); err == nil {
		p.m.LastEvent.Set(float64(hw.EventID))
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// publish sends an announcement; a failure is logged, never fatal (the
// work it reports is committed).
func (p *Pipeline) publish(ctx context.Context, subject, msgID string, fields map[string]any) {
	if p.bus == nil {
		return
	}
	fields["v"], fields["host"], fields["utcts"] = 1, p.host, natsbus.UTCTS(time.Now())
	payload, err := json.Marshal(fields)
	if err == nil {
		err = p.bus.Publish(ctx, subject, msgID, payload)
	}
	if err != nil {
		p.log.Warn("announcement not published", zap.String("subject", subject), zap.Error(err))
	}
}
