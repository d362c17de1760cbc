package loader

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"tributary.dev/services/s3-loader/internal/source"
	"tributary.dev/services/s3-loader/internal/target"
)

// Reloaded is one table a reload prepared.
type Reloaded struct {
	Table      source.Table
	Target     string
	Generation int
	CDCFrom    time.Time
	LoadFiles  int
}

// Reload prepares tables for the snapshot DMS wrote when it reloaded them
// (the same LOAD… keys written again): under the loader lock it checks
// the table folders hold one whole new full load, then in one transaction
// empties the target tables and starts their next generation. The next
// pass applies the new LOAD files from the first, then the change files
// stamped from cdcFrom on — by default when the first rewritten LOAD
// file was stored, so changes the old snapshot had already seen are not
// replayed over the new one. Run it once DMS reports the reload complete:
// a full load still being written would be loaded half old, half new.
func (l *Loader) Reload(ctx context.Context, tables []source.Table, cdcFrom time.Time, note string) ([]Reloaded, error) {
	unlock, err := l.tgt.Lock(ctx, l.src.Bucket()+"/"+l.src.Root())
	if err != nil {
		return nil, fmt.Errorf("take the loader lock: %w", err)
	}
	defer unlock()
	states, err := l.tgt.States(ctx, l.src.Bucket(), tables)
	if err != nil {
		return nil, err
	}
	var plans []target.Reload
	var out []Reloaded
	var errs []error
	for _, tb := range tables {
		p, r, err := l.planReload(ctx, tb, states[tb], cdcFrom)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		plans = append(plans, p)
		out = append(out, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	gens, err := l.tgt.Reload(ctx, l.src.Bucket(), plans, note)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Generation = gens[out[i].Table]
		l.log.Info(fmt.Sprintf("Reload %s: %s emptied; generation %d loads %d full-load files, then changes stamped from %s",
			out[i].Table, out[i].Target, out[i].Generation, out[i].LoadFiles, out[i].CDCFrom.Format(time.RFC3339Nano)),
			zap.String("note", note))
	}
	return out, nil
}

func (l *Loader) planReload(ctx context.Context, tb source.Table, st target.State, cdcFrom time.Time) (target.Reload, Reloaded, error) {
	listing, err := l.src.Loads(ctx, tb)
	if err != nil {
		return target.Reload{}, Reloaded{}, err
	}
	for _, u := range listing.Unplaced {
		return target.Reload{}, Reloaded{}, fmt.Errorf("reload %s: %w", tb, u.Err)
	}
	if len(listing.Files) == 0 {
		return target.Reload{}, Reloaded{}, fmt.Errorf("reload %s: no full-load files under %s/%s/%s/: nothing to reload from (wait for DMS to write them)", tb, l.src.Root(), tb.Schema, tb.Table)
	}
	applied, err := l.tgt.AppliedLoads(ctx, l.src.Bucket(), tb, st.Generation)
	if err != nil {
		return target.Reload{}, Reloaded{}, err
	}
	// The new snapshot's files are those written again (or new); the
	// earliest of them was stored when the reload's full load began.
	var first time.Time
	for _, f := range listing.Files {
		if a, ok := applied[f.Seq]; ok && a.Key == f.Key && a.Size == f.Size && a.Version == f.Version() {
			continue
		}
		if first.IsZero() || f.Modified.Before(first) {
			first = f.Modified
		}
	}
	if first.IsZero() {
		// Nothing rewritten: load the same snapshot again, and every
		// change since it.
		for _, f := range listing.Files {
			if first.IsZero() || f.Modified.Before(first) {
				first = f.Modified
			}
		}
	}
	var stale []string
	for i, f := range listing.Files {
		if f.Seq != int64(i+1) {
			return target.Reload{}, Reloaded{}, fmt.Errorf("reload %s: %w: %s is missing (found %s); wait for DMS to finish the full load", tb, ErrGap, source.LoadName(int64(i+1)), f.Key)
		}
		if f.Modified.Before(first) {
			stale = append(stale, f.Key)
		}
	}
	if len(stale) > 0 {
		return target.Reload{}, Reloaded{}, fmt.Errorf("reload %s: %s were stored before the new snapshot's first file and are unchanged since they were applied: files of the old snapshot DMS left behind; delete them (or wait for DMS to rewrite them) and run the reload again",
			tb, strings.Join(stale, ", "))
	}
	if cdcFrom.IsZero() {
		cdcFrom = first.UTC()
	}
	schema := tb.Schema
	if s, ok := l.cfg.SchemaMap[schema]; ok {
		schema = s
	}
	tbl, err := l.tgt.Describe(ctx, schema, tb.Table)
	if err != nil {
		return target.Reload{}, Reloaded{}, fmt.Errorf("reload %s: %w", tb, err)
	}
	return target.Reload{Source: tb, Target: tbl, CDCFrom: cdcFrom},
		Reloaded{Table: tb, Target: tbl.String(), CDCFrom: cdcFrom, LoadFiles: len(listing.Files)}, nil
}
