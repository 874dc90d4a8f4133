package api

import (
	"strings"
	"time"

	"github.com/atollcloud/atoll/db"
)

func registerEvents(s *Server) {
	s.Reg.Add(&Command{Name: "listEvents", Response: eventResponse, Roles: AllRoles, List: true, ResponseKey: "event",
		Description: "A command to list events.",
		Params: withScope(
			Param{Name: "id", Type: TUUID, Description: "the ID of the event"},
			Param{Name: "type", Type: TString, Description: "the event type (see event types)"},
			Param{Name: "level", Type: TString, Description: "the event level (INFO, WARN, ERROR)"},
			Param{Name: "state", Type: TString, Description: "the state of the event (Created, Scheduled, Started, Completed)"},
			Param{Name: "startdate", Type: TDate, Description: "the start date range of the list you want to retrieve (use format \"yyyy-MM-dd\" or the new format \"yyyy-MM-dd HH:mm:ss\")"},
			Param{Name: "enddate", Type: TDate, Description: "the end date range of the list you want to retrieve (use format \"yyyy-MM-dd\" or the new format \"yyyy-MM-dd HH:mm:ss\")"},
			Param{Name: "duration", Type: TInt, Description: "the duration of the event"},
			Param{Name: "entrytime", Type: TInt, Description: "the time the event was entered"},
			Param{Name: "resourceid", Type: TString, Description: "the ID of the resource associated with the event"},
			Param{Name: "resourcetype", Type: TString, Description: "the type of the resource associated with the event"},
			Param{Name: "archived", Type: TBool, Description: "true to list archived events otherwise false"},
		),
		Handler: listEvents})
}

func renderEvent(e *db.Event) map[string]any {
	m := map[string]any{"id": e.ID, "type": e.Type, "level": e.Level, "description": e.Description, "state": e.State,
		"created": FormatTime(e.Created), "archived": false}
	set(m, "username", e.Username)
	set(m, "account", e.AccountName)
	set(m, "domainid", e.DomainID)
	set(m, "domain", e.DomainName)
	set(m, "domainpath", e.DomainPath)
	if e.ResourceID != "" {
		m["resourceid"] = e.ResourceID
		set(m, "resourcetype", e.ResourceType)
	}
	return m
}

func listEvents(c *Call) (any, error) {
	scope, err := c.ListScope()
	if err != nil {
		return nil, err
	}
	// Events are never archived (deleteEvents/archiveEvents are not offered), so an archived
	// list is empty.
	if archived, _ := c.P.Bool("archived"); archived {
		return ListResult{Key: "event"}, nil
	}
	f := db.EventFilter{ID: strings.ToLower(c.P.String("id")), Type: c.P.String("type"), Level: c.P.String("level"),
		State: c.P.String("state"), Keyword: c.P.String("keyword"), ResourceID: c.P.String("resourceid"),
		ResourceType: c.P.String("resourcetype"), Scope: scope}
	if v := c.P.String("startdate"); v != "" {
		t, _ := ParseDate(v) // validated by the registry
		f.Start = t.UnixMilli()
	}
	if v := c.P.String("enddate"); v != "" {
		t, _ := ParseDate(v)
		f.End = t.UnixMilli()
	}
	// CloudStack: with both entrytime and duration, list the events started between entrytime
	// and duration seconds ago that have not completed yet.
	entry, hasEntry := c.P.Int("entrytime")
	duration, hasDuration := c.P.Int("duration")
	if hasEntry && hasDuration {
		if entry <= duration {
			return nil, ErrParam("Entry time must be greater than duration")
		}
		now := time.Now()
		f.Start = max(f.Start, now.Add(-time.Duration(entry)*time.Second).UnixMilli())
		end := now.Add(-time.Duration(duration) * time.Second).UnixMilli()
		if f.End == 0 || end < f.End {
			f.End = end
		}
		f.Pending = true
	}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListEvents(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, e := range list {
		items = append(items, renderEvent(e))
	}
	return ListResult{Key: "event", Items: items, Count: total}, nil
}
