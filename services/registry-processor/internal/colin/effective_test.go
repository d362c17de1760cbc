package colin

import (
	"testing"
	"time"

	"tributary.dev/services/registry-processor/internal/model"
)

func at(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr[T any](v T) *T { return &v }

// The expected dates follow the rule order of the original's
// get_event_filing_effective_date (research §2 "Effective dating").
func TestEffective(t *testing.T) {
	ts := at("2019-05-01 10:00:00")
	trig := at("2019-04-01 00:00:00")
	fil := at("2019-03-01 00:00:00")
	conv := at("1990-02-01 00:00:00")
	for _, tc := range []struct {
		name     string
		e        model.Event
		corpType string
		want     time.Time
	}{
		{"event id 0 is the min date whatever it carries", model.Event{ID: 0, TypeCd: "FILE", Timestamp: ts, FilingEffective: &fil}, "BC", MinDate},
		{"firm SP takes trigger_dts first", model.Event{ID: 1, TypeCd: "FILE", Timestamp: ts, Trigger: &trig, FilingEffective: &fil}, "SP", trig},
		{"firm GP", model.Event{ID: 1, TypeCd: "ADMIN", Timestamp: ts, Trigger: &trig}, "GP", trig},
		{"firm LP", model.Event{ID: 1, TypeCd: "ADMIN", Timestamp: ts, Trigger: &trig}, "LP", trig},
		{"firm XP", model.Event{ID: 1, TypeCd: "ADMIN", Timestamp: ts, Trigger: &trig}, "XP", trig},
		{"firm LL", model.Event{ID: 1, TypeCd: "ADMIN", Timestamp: ts, Trigger: &trig}, "LL", trig},
		{"firm XL", model.Event{ID: 1, TypeCd: "ADMIN", Timestamp: ts, Trigger: &trig}, "XL", trig},
		{"firm MF", model.Event{ID: 1, TypeCd: "ADMIN", Timestamp: ts, Trigger: &trig}, "MF", trig},
		{"non-firm BC ignores trigger_dts, takes the filing", model.Event{ID: 1, TypeCd: "FILE", Timestamp: ts, Trigger: &trig, FilingEffective: &fil}, "BC", fil},
		{"no corp type ignores trigger_dts", model.Event{ID: 1, TypeCd: "ADMIN", Timestamp: ts, Trigger: &trig}, "", ts},
		{"firm with null trigger falls to the filing", model.Event{ID: 1, TypeCd: "FILE", Timestamp: ts, FilingEffective: &fil}, "SP", fil},
		{"FILE with a null filing effective_dt falls to the timestamp", model.Event{ID: 1, TypeCd: "FILE", Timestamp: ts}, "BC", ts},
		{"CONVL takes conv_event effective_dt", model.Event{ID: 1, TypeCd: "CONVL", Timestamp: ts, ConvEffective: &conv}, "BC", conv},
		{"CONVICORP too", model.Event{ID: 1, TypeCd: "CONVICORP", Timestamp: ts, ConvEffective: &conv}, "A", conv},
		{"a conv date on a non-CONV event is not looked at", model.Event{ID: 1, TypeCd: "ADMIN", Timestamp: ts, ConvEffective: &conv}, "BC", ts},
		{"a filing date on a non-FILE event is not looked at", model.Event{ID: 1, TypeCd: "CONVL", Timestamp: ts, FilingEffective: &fil}, "BC", ts},
		{"plain event: the timestamp", model.Event{ID: 1, TypeCd: "ADMIN", Timestamp: ts}, "BC", ts},
	} {
		if got := Effective(&tc.e, tc.corpType); !got.Equal(tc.want) {
			t.Errorf("%s: Effective = %s, want %s", tc.name, got, tc.want)
		}
	}
	if !MinDate.Equal(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("MinDate = %s, want 0001-01-01", MinDate)
	}
}
