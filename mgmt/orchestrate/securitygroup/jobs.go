package securitygroup

import (
	"context"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// JobType is the instance type of a group's jobs (rule changes of one group run one at a time).
const JobType = "SecurityGroup"

// StartAuthorize checks an authorize request, finds its group and queues the actor's job on
// it, answering the job's id and the group's.
func StartAuthorize(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, typ string, s RuleSpec) (jobID, groupID string, err error) {
	if err := s.Check(); err != nil {
		return "", "", err
	}
	cmd := "authorizeSecurityGroupIngress"
	if typ == db.SGEgress {
		cmd = "authorizeSecurityGroupEgress"
	}
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		g, err := Target(ctx, tx, a, s.Group, cmd)
		if err != nil {
			return err
		}
		groupID = g.ID
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, JobType, g.ID)
		return err
	})
	return jobID, groupID, err
}

// StartRevoke finds a rule of the command's type the caller may change and queues the
// actor's job on its group, answering the job's id.
func StartRevoke(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, typ, ruleID string) (jobID string, err error) {
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		r, err := RuleLookup(ctx, tx, a, typ, ruleID)
		if err != nil {
			return err
		}
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, JobType, r.GroupID)
		return err
	})
	return jobID, err
}
