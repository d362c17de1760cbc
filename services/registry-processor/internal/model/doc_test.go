package model

import (
	"testing"
	"time"
)

func TestIsConversion(t *testing.T) {
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2004, 3, 26, 0, 0, 0, 0, time.UTC), true},
		{time.Date(2004, 3, 26, 23, 59, 59, 0, time.UTC), true},
		{time.Date(2004, 3, 27, 0, 0, 0, 0, time.UTC), false},
		{time.Date(2005, 3, 26, 12, 0, 0, 0, time.UTC), false},
	} {
		if got := (&Event{Timestamp: tc.at}).IsConversion(); got != tc.want {
			t.Errorf("%s: IsConversion %v, want %v", tc.at, got, tc.want)
		}
	}
}
