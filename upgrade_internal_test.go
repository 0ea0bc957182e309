package billing

import (
	"testing"
	"time"
)

func TestProrate(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 1, 0) // 31 days
	for _, tt := range []struct {
		at   time.Time
		want int64
	}{
		{start, 4000},
		{start.Add(-time.Hour), 4000},
		{start.AddDate(0, 0, 10), 4000 * 21 / 31},
		{end, 0},
		{end.Add(time.Hour), 0},
	} {
		if got := prorate(4000, start, end, tt.at); got != tt.want {
			t.Errorf("prorate(4000) at %v = %d, want %d", tt.at, got, tt.want)
		}
	}
	if got := prorate(MaxMetadataCredits, start, end, start.AddDate(0, 0, 1)); got != MaxMetadataCredits*30/31 {
		t.Errorf("prorate(10^9) = %d", got)
	}
}
