package api

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/jobs"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// JobFunc does an async command's work; its result renders as jobresult.
type JobFunc func(c *Call, j *db.Job) (any, error)

// actor is the call as a workflow's Actor: its caller, command and parameters.
func (c *Call) actor() orchestrate.Actor {
	a := orchestrate.Actor{Caller: c.Caller, Params: c.P}
	if c.Cmd != nil {
		a.Cmd = c.Cmd.Name
	}
	return a
}

// EnqueueJob writes this call's job in the caller's transaction q (orchestrate.EnqueueJob).
func (c *Call) EnqueueJob(q db.Querier, instanceType, instanceID string) (string, error) {
	return orchestrate.EnqueueJob(c.Ctx, q, c.actor(), instanceType, instanceID)
}

// EnqueueLocalJob is EnqueueJob for a new object's first job (orchestrate's EnqueueLocalJob).
func (c *Call) EnqueueLocalJob(q db.Querier, instanceType, instanceID string) (*db.Job, error) {
	return c.deps().EnqueueLocalJob(c.Ctx, q, c.actor(), instanceType, instanceID)
}

// RunLocal starts a job written by EnqueueLocalJob (after its transaction committed), handing
// it data the call loaded (Call.Hint in the job) and the caller.
func (c *Call) RunLocal(j *db.Job, data any) {
	if j.Owner == "" {
		c.S.Jobs.Wake()
		return
	}
	c.S.Jobs.RunLocal(j, &jobHint{caller: c.Caller, data: data})
}

// jobHint is what RunLocal hands a job: the caller and what the call loaded.
type jobHint struct {
	caller *iam.Caller
	data   any
}

// StartJob is the common async path: write the job in its own transaction and answer
// {jobid, id}. Handlers that change state before the job starts use EnqueueJob in theirs.
func (c *Call) StartJob(instanceType, instanceID string) (any, error) {
	var jobID string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		var err error
		jobID, err = c.EnqueueJob(tx, instanceType, instanceID)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: instanceIDOrEmpty(instanceType, instanceID)}, nil
}

func instanceIDOrEmpty(t, id string) string {
	if t == "None" {
		return ""
	}
	return id
}

// jobAdapter runs an async command's JobFunc as a jobs.Func.
func (s *Server) jobAdapter(cmd *Command) jobs.Func {
	return func(ctx context.Context, j *db.Job) jobs.Outcome {
		var p Params
		if err := json.Unmarshal([]byte(j.Params), &p); err != nil {
			s.Log.Error("corrupt job parameters", "job", j.ID, "command", cmd.Name, "err", err)
			return jobs.Failure(CodeInternal, jobs.InternalErrorText)
		}
		c := &Call{Ctx: ctx, S: s, Cmd: cmd, P: p}
		if h, ok := jobs.HintOf(ctx).(*jobHint); ok && h.caller != nil {
			c.Caller, c.Hint = h.caller, h.data
		} else {
			u, err := db.GetUser(ctx, s.DB.Read(), j.UserID)
			if err != nil {
				return jobs.Failure(CodeInternal, "the user who started the job no longer exists")
			}
			c.Caller = &iam.Caller{User: u}
		}
		res, err := cmd.Job(c, j)
		if err != nil {
			e := s.asAPIError(cmd.Name, err)
			body, _ := json.Marshal(map[string]any{"errorcode": e.Code, "cserrorcode": e.CSCode, "errortext": e.Text})
			return jobs.Outcome{Status: db.JobFailed, Code: e.Code, Result: string(body)}
		}
		body, err := json.Marshal(inner(res))
		if err != nil {
			s.Log.Error("encode job result", "job", j.ID, "command", cmd.Name, "err", err)
			return jobs.Failure(CodeInternal, jobs.InternalErrorText)
		}
		return jobs.Outcome{Status: db.JobSucceeded, Code: 0, Result: string(body)}
	}
}

// queryWait is how long queryAsyncJobResult waits for a pending job before answering, so that
// clients that poll every 2 s (Ansible) rarely have to.
const queryWait = 3 * time.Second

func registerJobCommands(s *Server) {
	s.Reg.Add(&Command{Name: "queryAsyncJobResult", Response: asyncJobResponse, Roles: AllRoles, Description: "Retrieves the current status of asynchronous job.",
		Params: []Param{{Name: "jobid", Type: TUUID, Required: true, Description: "the ID of the asynchronous job"}},
		Handler: func(c *Call) (any, error) {
			j, err := c.S.Jobs.Wait(c.Ctx, c.P.String("jobid"), queryWait)
			if errors.Is(err, db.ErrNotFound) || err == nil && !c.canSeeJob(j) {
				return nil, ErrParam("Unable to find a job by id %s", c.P.String("jobid"))
			}
			if err != nil {
				return nil, err
			}
			return Raw(renderJob(j)), nil
		}})
	s.Reg.Add(&Command{Name: "listAsyncJobs", Response: asyncJobResponse, Roles: AllRoles, List: true, ResponseKey: "asyncjobs",
		Description: "Lists all pending asynchronous jobs for the account.",
		Params: withScope(Param{Name: "startdate", Type: TDate, Description: "the start date of the async job"},
			Param{Name: "id", Type: TUUID, Description: "the id of the async job"}),
		Handler: func(c *Call) (any, error) {
			scope, err := c.ListScope()
			if err != nil {
				return nil, err
			}
			f := db.JobFilter{ID: c.P.String("id"), Scope: scope}
			if v := c.P.String("startdate"); v != "" {
				t, _ := ParseDate(v)
				f.StartDate = t.UnixMilli()
			}
			f.Limit, f.Offset = c.P.Paging()
			list, total, err := db.ListJobs(c.Ctx, c.S.DB.Read(), f)
			if err != nil {
				return nil, err
			}
			items := make([]any, 0, len(list))
			for _, j := range list {
				items = append(items, renderJob(j))
			}
			return ListResult{Key: "asyncjobs", Items: items, Count: total}, nil
		}})
}

func (c *Call) canSeeJob(j *db.Job) bool {
	if j.AccountID == c.Caller.User.AccountID || c.Caller.IsRootAdmin() {
		return true
	}
	if c.Caller.IsDomainAdmin() {
		d, err := db.GetDomain(c.Ctx, c.S.DB.Read(), j.DomainID)
		return err == nil && iam.InDomainTree(c.Caller.User.DomainPath, d.Path)
	}
	return false
}

func renderJob(j *db.Job) map[string]any {
	m := map[string]any{
		"jobid": j.ID, "accountid": j.AccountID, "userid": j.UserID, "cmd": j.Cmd, "jobstatus": j.Status,
		"jobprocstatus": j.ProcStatus, "jobresultcode": j.ResultCode, "jobresulttype": j.ResultType,
		"created": FormatTime(j.Created),
	}
	if j.InstanceType != "None" {
		m["jobinstancetype"] = j.InstanceType
		m["jobinstanceid"] = j.InstanceID
	}
	if j.Status != db.JobPending {
		m["jobresult"] = json.RawMessage(j.Result)
		if j.Completed > 0 {
			m["completed"] = FormatTime(j.Completed)
		}
	}
	return m
}
