package sandbox

import (
	"fmt"
	"time"

	"github.com/dinoid/dino-mcp/dinoapi"
)

// Clock tells the time; tests inject a fixed or stepping clock.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// PeriodBounds returns the UTC calendar window [start, end) of the budget period containing t:
// a day, a week from Monday, a month from the 1st or a year from January 1st, as Stripe Issuing
// defines spending-limit intervals.
func PeriodBounds(period string, t time.Time) (time.Time, time.Time, error) {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch period {
	case dinoapi.PeriodDaily:
		return day, day.AddDate(0, 0, 1), nil
	case dinoapi.PeriodWeekly:
		back := (int(day.Weekday()) + 6) % 7 // days since Monday
		start := day.AddDate(0, 0, -back)
		return start, start.AddDate(0, 0, 7), nil
	case dinoapi.PeriodMonthly:
		start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0), nil
	case dinoapi.PeriodYearly:
		start := time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(1, 0, 0), nil
	}
	return time.Time{}, time.Time{}, fmt.Errorf("budget period %q must be daily, weekly, monthly or yearly", period)
}

// ValidPeriod reports whether p is a budget period.
func ValidPeriod(p string) bool {
	_, _, err := PeriodBounds(p, time.Time{})
	return err == nil
}
