package snapshots

import (
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	good := []struct {
		interval int
		s        string
		want     Schedule
	}{
		{Hourly, "30", Schedule{Hourly, 30, 0, 0}},
		{Daily, "05:23", Schedule{Daily, 5, 23, 0}},
		{Weekly, "00:01:7", Schedule{Weekly, 0, 1, 7}},
		{Monthly, "59:12:28", Schedule{Monthly, 59, 12, 28}},
	}
	for _, g := range good {
		got, err := ParseSchedule(g.interval, g.s)
		if err != nil || got != g.want {
			t.Errorf("ParseSchedule(%d, %q) = %+v, %v; want %+v", g.interval, g.s, got, err, g.want)
		}
	}
	bad := []struct {
		interval int
		s        string
	}{
		{Hourly, ""}, {Hourly, "60"}, {Hourly, "-1"}, {Hourly, "1:2"}, {Daily, "30"}, {Daily, "30:24"}, {Daily, "x:1"},
		{Weekly, "0:0"}, {Weekly, "0:0:0"}, {Weekly, "0:0:8"}, {Monthly, "0:0:29"}, {Monthly, "0:0:0"}, {7, "1"},
	}
	for _, b := range bad {
		if got, err := ParseSchedule(b.interval, b.s); err == nil {
			t.Errorf("ParseSchedule(%d, %q) = %+v, want an error", b.interval, b.s, got)
		}
	}
}

func TestParseInterval(t *testing.T) {
	for s, want := range map[string]int{"hourly": 0, "DAILY": 1, "Weekly": 2, "monthly": 3, "2": 2} {
		if got, ok := ParseInterval(s); !ok || got != want {
			t.Errorf("ParseInterval(%q) = %d, %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "yearly", "4", "-1"} {
		if _, ok := ParseInterval(s); ok {
			t.Errorf("ParseInterval(%q) accepted", s)
		}
	}
}

func TestNext(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	utc := time.UTC
	at := func(loc *time.Location, s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	cases := []struct {
		name     string
		sc       Schedule
		loc      *time.Location
		after    time.Time
		wantWall string
	}{
		{"hourly later this hour", Schedule{Hourly, 30, 0, 0}, utc, at(utc, "2026-11-25 14:10"), "2026-11-25 14:30"},
		{"hourly next hour", Schedule{Hourly, 5, 0, 0}, utc, at(utc, "2026-11-25 14:10"), "2026-11-25 15:05"},
		{"hourly exactly now is next", Schedule{Hourly, 10, 0, 0}, utc, at(utc, "2026-11-25 14:10"), "2026-11-25 15:10"},
		{"daily today", Schedule{Daily, 0, 23, 0}, utc, at(utc, "2026-11-25 14:10"), "2026-11-25 23:00"},
		{"daily tomorrow", Schedule{Daily, 0, 1, 0}, utc, at(utc, "2026-11-25 14:10"), "2026-11-26 01:00"},
		{"daily across month end", Schedule{Daily, 0, 1, 0}, utc, at(utc, "2026-11-30 14:10"), "2026-12-01 01:00"},
		// 2026-11-25 is a Wednesday; 1 = Sunday.
		{"weekly sunday", Schedule{Weekly, 0, 2, 1}, utc, at(utc, "2026-11-25 14:10"), "2026-11-29 02:00"},
		{"weekly same day later", Schedule{Weekly, 0, 20, 4}, utc, at(utc, "2026-11-25 14:10"), "2026-11-25 20:00"},
		{"weekly same day earlier: next week", Schedule{Weekly, 0, 2, 4}, utc, at(utc, "2026-11-25 14:10"), "2026-12-02 02:00"},
		{"monthly next month", Schedule{Monthly, 0, 3, 1}, utc, at(utc, "2026-11-25 14:10"), "2026-12-01 03:00"},
		{"monthly this month", Schedule{Monthly, 0, 3, 28}, utc, at(utc, "2026-11-25 14:10"), "2026-11-28 03:00"},
		{"monthly across year", Schedule{Monthly, 0, 3, 1}, utc, at(utc, "2026-12-25 14:10"), "2027-01-01 03:00"},
		// Berlin is UTC+1 in November: 14:10 UTC is 15:10 there, so 15:30 local is next.
		{"timezone daily", Schedule{Daily, 30, 15, 0}, berlin, at(utc, "2026-11-25 14:10"), "2026-11-25 15:30"},
		{"timezone daily passed", Schedule{Daily, 0, 15, 0}, berlin, at(utc, "2026-11-25 14:10"), "2026-11-26 15:00"},
	}
	for _, c := range cases {
		got := c.sc.Next(c.after, c.loc)
		if w := got.In(c.loc).Format("2006-01-02 15:04"); w != c.wantWall || !got.After(c.after) {
			t.Errorf("%s: Next = %s (wall in %s), want %s", c.name, w, c.loc, c.wantWall)
		}
	}
	// In Berlin 02:30 does not exist on 2026-03-29; the run still comes once, after it.
	got := Schedule{Daily, 30, 2, 0}.Next(at(berlin, "2026-03-28 12:00"), berlin)
	if !got.After(at(berlin, "2026-03-28 12:00")) || got.Sub(at(berlin, "2026-03-28 12:00")) > 24*time.Hour {
		t.Errorf("DST gap: %s", got)
	}
}
