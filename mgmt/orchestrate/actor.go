package orchestrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/google/uuid"
)

// Actor is who asks for a workflow: the caller, and the API command with its parameters as a
// job stores them (an async command's job runs again from these on any server).
type Actor struct {
	Caller *iam.Caller
	Cmd    string
	Params any // encoded as JSON into the job row
}

// Event records an event of the actor's in q.
func Event(ctx context.Context, q db.Querier, a Actor, typ, description, resourceType, resourceID string) error {
	u := a.Caller.User
	return db.InsertEvent(ctx, q, &db.Event{ID: uuid.NewString(), Type: typ, Level: "INFO", State: "Completed",
		Description: description, UserID: u.ID, AccountID: u.AccountID, DomainID: u.DomainID,
		ResourceType: resourceType, ResourceID: resourceID, Created: db.Now()})
}

// EnqueueJob writes the actor's job in q, the caller's transaction, against the object it
// works on (jobs on one object run one at a time), and returns the job id.
func EnqueueJob(ctx context.Context, q db.Querier, a Actor, instanceType, instanceID string) (string, error) {
	j, err := newJob(a, instanceType, instanceID)
	if err != nil {
		return "", err
	}
	return j.ID, db.InsertJob(ctx, q, j)
}

// EnqueueLocalJob is EnqueueJob for a new object's first job (no other job can be ahead of
// it): the job is written claimed by this server's runner, which runs it once the transaction
// has committed (RunLocal), without a claim. While the runner is not running it is an
// ordinary queued job.
func (d *Deps) EnqueueLocalJob(ctx context.Context, q db.Querier, a Actor, instanceType, instanceID string) (*db.Job, error) {
	j, err := newJob(a, instanceType, instanceID)
	if err != nil {
		return nil, err
	}
	if d.Jobs != nil {
		if owner, lease, ok := d.Jobs.LocalClaim(); ok {
			j.Owner, j.LeaseUntil, j.Attempts = owner, lease, 1
		}
	}
	if err := db.InsertJob(ctx, q, j); err != nil {
		return nil, err
	}
	return j, nil
}

func newJob(a Actor, instanceType, instanceID string) (*db.Job, error) {
	params, err := json.Marshal(a.Params)
	if err != nil {
		return nil, fmt.Errorf("orchestrate: encode job params: %w", err)
	}
	id := uuid.NewString()
	if instanceID == "" {
		instanceType, instanceID = "None", id
	}
	u := a.Caller.User
	return &db.Job{ID: id, Cmd: a.Cmd, Params: string(params), UserID: u.ID, AccountID: u.AccountID,
		DomainID: u.DomainID, InstanceType: instanceType, InstanceID: instanceID, Created: db.Now()}, nil
}

// CheckOwnerAccess refuses a caller that may not act on a resource owned by accountID in
// domainID (no account: a system resource, for root admins only). The refusal names only the
// id the caller sent, never the owner.
func CheckOwnerAccess(ctx context.Context, q db.Querier, caller *iam.Caller, resourceID, accountID, domainID string) error {
	if accountID == "" {
		if caller.IsRootAdmin() {
			return nil
		}
		return ErrDenied("Account %s does not have permission to operate on a system resource", caller.User.AccountName)
	}
	path := ""
	if domainID != "" {
		d, err := db.GetDomain(ctx, q, domainID)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		if d != nil {
			path = d.Path
		}
	}
	if !caller.CanManageAccount(accountID, path) {
		return ErrDenied("Account %s does not have permission to operate with resource %s", caller.User.AccountName, resourceID)
	}
	return nil
}
