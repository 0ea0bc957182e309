package billing

import (
	"testing"
	"time"
)

func TestAddMonths(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 9, 30, 0, 0, time.UTC) }
	for _, tt := range []struct {
		from time.Time
		n    int
		want time.Time
	}{
		{day(2026, 1, 15), 1, day(2026, 2, 15)},
		{day(2026, 1, 31), 1, day(2026, 2, 28)},
		{day(2028, 1, 31), 1, day(2028, 2, 29)},
		{day(2026, 1, 31), 2, day(2026, 3, 31)},
		{day(2026, 3, 31), 1, day(2026, 4, 30)},
		{day(2026, 12, 31), 2, day(2027, 2, 28)},
		{day(2026, 1, 1), 12, day(2027, 1, 1)},
	} {
		if got := addMonths(tt.from, tt.n); !got.Equal(tt.want) {
			t.Errorf("addMonths(%v, %d) = %v, want %v", tt.from, tt.n, got, tt.want)
		}
	}
}
