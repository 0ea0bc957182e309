package admin

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/acme/billing"
)

// chart is the last 24 hours' events per hour by status, drawn as stacked
// SVG bars on the server: no script, and readable without one.
type chart struct {
	Width, Height int
	Max           int64
	Bars          []bar
	Labels        []label
}

type bar struct {
	X, Y, W, H int
	Class      string
	Title      string
}

type label struct {
	X    int
	Text string
}

const (
	chartHours  = 24
	slot        = 30 // width of one hour
	chartHeight = 120
)

// stackOrder draws failures on top, where they catch the eye.
var stackOrder = []billing.EventStatus{billing.StatusProcessed, billing.StatusIgnored, billing.StatusStale, billing.StatusReceived, billing.StatusFailed}

func newChart(counts []billing.HourCount, now time.Time) chart {
	start := now.UTC().Truncate(time.Hour).Add(-(chartHours - 1) * time.Hour)
	perHour := make([]map[billing.EventStatus]int64, chartHours)
	totals := make([]int64, chartHours)
	c := chart{Width: chartHours * slot, Height: chartHeight + 20, Max: 1}
	for _, hc := range counts {
		i := int(hc.Hour.Sub(start) / time.Hour)
		if i < 0 || i >= chartHours {
			continue
		}
		if perHour[i] == nil {
			perHour[i] = map[billing.EventStatus]int64{}
		}
		perHour[i][hc.Status] += hc.N
		totals[i] += hc.N
		c.Max = max(c.Max, totals[i])
	}
	for i := range chartHours {
		x, y := i*slot+2, chartHeight
		hour := start.Add(time.Duration(i) * time.Hour)
		for _, st := range stackOrder {
			n := perHour[i][st]
			if n == 0 {
				continue
			}
			h := max(int(n*chartHeight/c.Max), 1)
			y -= h
			c.Bars = append(c.Bars, bar{X: x, Y: y, W: slot - 4, H: h, Class: "bar-" + string(st),
				Title: hour.Format("15:00") + " UTC: " + strconv.FormatInt(n, 10) + " " + string(st)})
		}
		if i%6 == 0 {
			c.Labels = append(c.Labels, label{X: x, Text: hour.Format("15:00")})
		}
	}
	return c
}

// indent pretty-prints a stored payload, or shows it as it is when it is
// not JSON.
func indent(payload []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, payload, "", "  "); err != nil {
		return string(payload)
	}
	return buf.String()
}
