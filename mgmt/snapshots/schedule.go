package snapshots

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Interval types, CloudStack's DateUtil.IntervalType ordinals.
const (
	Hourly  = 0
	Daily   = 1
	Weekly  = 2
	Monthly = 3
)

var intervalNames = []string{"HOURLY", "DAILY", "WEEKLY", "MONTHLY"}

// ParseInterval reads an interval type by name (any case) or by number.
func ParseInterval(s string) (int, bool) {
	s = strings.TrimSpace(s)
	for i, n := range intervalNames {
		if strings.EqualFold(s, n) || s == strconv.Itoa(i) {
			return i, true
		}
	}
	return 0, false
}

// IntervalName is an interval type's name (HOURLY ...), "" if unknown.
func IntervalName(i int) string {
	if i < 0 || i >= len(intervalNames) {
		return ""
	}
	return intervalNames[i]
}

// Schedule is a parsed policy schedule: minute, hour (daily and longer), and day (weekly: day
// of week 1 = Sunday .. 7 = Saturday, as Java's Calendar numbers them; monthly: day of month
// 1-28).
type Schedule struct {
	Interval          int
	Minute, Hour, Day int
}

// ParseSchedule reads CloudStack's schedule strings: hourly "MM", daily "MM:HH", weekly
// "MM:HH:D" and monthly "MM:HH:DD". The error says what is wrong, for a 431.
func ParseSchedule(interval int, s string) (Schedule, error) {
	want := map[int]int{Hourly: 1, Daily: 2, Weekly: 3, Monthly: 3}[interval]
	if IntervalName(interval) == "" {
		return Schedule{}, fmt.Errorf("unknown interval type %d", interval)
	}
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) != want {
		return Schedule{}, fmt.Errorf("schedule %q is not valid for a %s policy: want %s", s, strings.ToLower(IntervalName(interval)),
			[]string{"MM", "MM:HH", "MM:HH:D (day of week 1-7)", "MM:HH:DD (day of month 1-28)"}[interval])
	}
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return Schedule{}, fmt.Errorf("schedule %q is not valid: %q is not a number", s, p)
		}
		nums[i] = n
	}
	sc := Schedule{Interval: interval, Minute: nums[0]}
	if sc.Minute < 0 || sc.Minute > 59 {
		return Schedule{}, fmt.Errorf("schedule %q is not valid: minute must be 0-59", s)
	}
	if len(nums) > 1 {
		sc.Hour = nums[1]
		if sc.Hour < 0 || sc.Hour > 23 {
			return Schedule{}, fmt.Errorf("schedule %q is not valid: hour must be 0-23", s)
		}
	}
	if len(nums) > 2 {
		sc.Day = nums[2]
		if interval == Weekly && (sc.Day < 1 || sc.Day > 7) {
			return Schedule{}, fmt.Errorf("schedule %q is not valid: day of week must be 1-7 (1 is Sunday)", s)
		}
		if interval == Monthly && (sc.Day < 1 || sc.Day > 28) {
			return Schedule{}, fmt.Errorf("schedule %q is not valid: day of month must be 1-28", s)
		}
	}
	return sc, nil
}

// LoadTimezone resolves a policy's timezone name ("" is UTC).
func LoadTimezone(name string) (*time.Location, error) {
	if strings.TrimSpace(name) == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown timezone %q", name)
	}
	return loc, nil
}

// Next returns the first run strictly after after, in loc's wall clock: the next hh:MM for
// hourly, HH:MM for daily, HH:MM on the weekday for weekly, HH:MM on the day of month for
// monthly. Across a DST change it takes what Go's time.Date gives for that wall time.
func (s Schedule) Next(after time.Time, loc *time.Location) time.Time {
	t := after.In(loc)
	y, mo, d := t.Date()
	switch s.Interval {
	case Hourly:
		c := time.Date(y, mo, d, t.Hour(), s.Minute, 0, 0, loc)
		for !c.After(after) {
			c = c.Add(time.Hour)
		}
		return c
	case Daily:
		for i := 0; ; i++ {
			c := time.Date(y, mo, d+i, s.Hour, s.Minute, 0, 0, loc)
			if c.After(after) {
				return c
			}
		}
	case Weekly:
		want := time.Weekday(s.Day - 1) // 1 = Sunday
		for i := 0; ; i++ {
			c := time.Date(y, mo, d+i, s.Hour, s.Minute, 0, 0, loc)
			if c.Weekday() == want && c.After(after) {
				return c
			}
		}
	default:
		for i := 0; ; i++ {
			c := time.Date(y, mo+time.Month(i), s.Day, s.Hour, s.Minute, 0, 0, loc)
			if c.After(after) {
				return c
			}
		}
	}
}
