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
	"fmt"
	"runtime"
	"sync"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/faults"
	"tributary.dev/libs/natsbus"
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
}

// FindEvents queues every corp touched by an event since the high-water
// mark, up to the latest event at or before now, and moves the mark.
func (p *Pipeline) FindEvents(ctx context.Context) (Found, error) {
	defer p.m.stage("find", time.Now())
	hw, err := p.db.HighWater(ctx)
	if err != nil {
		return Found{}, err
	}
	if hw.EventID == 0 {
		return Found{From: hw, To: hw}, fmt.Errorf("the high-water mark is event 0: run `registry-processor initial-load` first (the original refuses to find events from 0 too)")
	}
	now := p.cfg.Now()
	id, ts, _, err := p.src.MaxEventBefore(ctx, now)
	if err != nil {
		return Found{}, err
	}
	last := epdb.Mark{EventID: id, EventDate: ts}
	if id <= hw.EventID && !ts.After(hw.EventDate) {
		return Found{From: hw, To: hw}, nil
	}
	corps, err := p.src.CorpsSince(ctx, hw.EventDate, ts)
	if err != nil {
		return Found{}, err
	}
	if len(corps) > 100_000 {
		return Found{}, fmt.Errorf("%d corps touched since event %d: more than 100,000 (the original's limit; use initial-load for a full reload)", len(corps), hw.EventID)
	}
	if len(corps) > 10_000 {
		p.log.Warn("many corps touched since the last run", zap.Int("corps", len(corps)), zap.Int64("since_event", hw.EventID))
	}
	if err := p.db.Queue(ctx, corps, hw, last); err != nil {
		return Found{}, err
	}
	faults.Point("after-queue")
	p.m.EventsFound.WithLabelValues().Add(float64(id - hw.EventID))
	p.m.CorpsQueued.Add(float64(len(corps)))
	p.m.LastEvent.Set(float64(id))
	return Found{From: hw, To: last, Corps: len(corps)}, nil
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
	// LAST is the latest event at or before now with its event_timestmp.
	// The original wrote the event's effective date there; a future-dated
	// filing then put the high-water date in the future, and the next
	// runs, which look for events with event_timestmp at or after it,
	// skipped every event until that day.
	id, ts, _, err := p.src.MaxEventBefore(ctx, p.cfg.Now())
	if err != nil {
		return Found{}, err
	}
	prev := epdb.Mark{EventID: 0, EventDate: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)}
	last := epdb.Mark{EventID: id, EventDate: ts}
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
	if err := p.db.Queue(ctx, nil, prev, last); err != nil {
		return Found{}, err
	}
	p.m.LastEvent.Set(float64(id))
	return Found{From: prev, To: last, Corps: total}, nil
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
	fetch := func(after int64) loaded {
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
	cur := fetch(0)
	for cur.err == nil && len(cur.rows) > 0 {
		next := make(chan loaded, 1)
		go func(after int64) { next <- fetch(after) }(cur.rows[len(cur.rows)-1].RecordID)
		outcomes := p.generate(cur.rows, cur.corps)
		inserted, err := p.db.Commit(ctx, outcomes)
		if err != nil {
			<-next
			return res, err
		}
		faults.Point("after-commit")
		for _, o := range outcomes {
			res.Corps++
			switch o.Success {
			case "S":
				res.Skipped++
			case "N":
				res.Failed++
			}
			p.m.Corps.WithLabelValues(o.Success).Inc()
			for _, c := range o.Creds {
				p.m.Generated.WithLabelValues(c.TypeCd).Inc()
			}
		}
		res.Credentials += inserted
		p.m.Duplicates.Add(float64(countCreds(outcomes) - inserted))
		p.progress("process", res.Corps, 0)
		p.beat()
		cur = <-next
	}
	return res, cur.err
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
			o.Success, o.Msg = "N", fmt.Sprintf("corp %s: not in the source database", r.Corp)
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
		if o.Success != "S" {
			o.CorpJSON, _ = json.Marshal(c)
		}
		if res.Withdrawn {
			o.HistoryMsg = "Withdrawn"
		}
		if res.Requeue != nil {
			o.Requeue = &epdb.Requeue{
				Prev: epdb.Mark{EventID: res.Requeue.PrevEventID, EventDate: res.Requeue.PrevEventDate},
				Last: epdb.Mark{EventID: res.Requeue.LastEventID, EventDate: res.Requeue.LastEventDate},
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
	}, now)
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

// Run is one run of the service: find, process, post, announce.
func (p *Pipeline) Run(ctx context.Context) error {
	start := time.Now()
	found, err := p.FindEvents(ctx)
	if err != nil {
		p.m.Runs.WithLabelValues("failed").Inc()
		return err
	}
	proc, err := p.ProcessQueue(ctx)
	if err != nil {
		p.m.Runs.WithLabelValues("failed").Inc()
		return err
	}
	if found.To.EventID > found.From.EventID || proc.Corps > 0 {
		p.publish(ctx, SubjectProcessed, fmt.Sprintf("processed/%d-%d", found.From.EventID, found.To.EventID), map[string]any{
			"system": model.System, "from_event": found.From.EventID, "to_event": found.To.EventID,
			"corps": proc.Corps, "credentials": proc.Credentials})
	}
	st, err := p.Post(ctx)
	p.log.Info("run done", zap.Int64("from_event", found.From.EventID), zap.Int64("to_event", found.To.EventID),
		zap.Int("corps_queued", found.Corps), zap.Int("corps_processed", proc.Corps), zap.Int("credentials", proc.Credentials),
		zap.Int("posted", st.Success), zap.Int("post_failed", st.Failed), zap.Duration("took", time.Since(start)))
	p.recordRun(ctx, "run", start, proc.Corps, proc.Credentials, st, err)
	p.RefreshGauges(ctx)
	if err != nil {
		p.m.Runs.WithLabelValues("failed").Inc()
		return err
	}
	p.m.Runs.WithLabelValues("success").Inc()
	return nil
}

// RefreshGauges sets the outstanding and error gauges from the same
// counts `status` prints.
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
}

// recordRun keeps the run for the status page's last runs; a failure to
// record it is logged, not fatal.
func (p *Pipeline) recordRun(ctx context.Context, verb string, start time.Time, corps, generated int, st poster.Stats, err error) {
	r := &epdb.Run{Verb: verb, Started: start, Finished: time.Now(), Corps: int64(corps), Generated: int64(generated),
		Posted: int64(st.Success), Failed: int64(st.Failed), Err: errText(err)}
	if rerr := p.db.RecordRun(context.WithoutCancel(ctx), r); rerr != nil {
		p.log.Warn("run not recorded", zap.Error(rerr))
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
