package api

import (
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/jobs"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// CloudStack's error codes and the Error type live in mgmt/orchestrate, where the workflows
// raise them; the API names them as its own.
const (
	CodeUnauthorized     = orchestrate.CodeUnauthorized
	CodeMalformed        = orchestrate.CodeMalformed
	CodeParam            = orchestrate.CodeParam
	CodeUnsupported      = orchestrate.CodeUnsupported
	CodeInternal         = orchestrate.CodeInternal
	CodeAccount          = orchestrate.CodeAccount
	CodeResourceLimit    = orchestrate.CodeResourceLimit
	CodeCapacity         = orchestrate.CodeCapacity
	CodeUnavailable      = orchestrate.CodeUnavailable
	CodeResourceInUse    = orchestrate.CodeResourceInUse
	CSServerAPI          = orchestrate.CSServerAPI
	CSInvalidParameter   = orchestrate.CSInvalidParameter
	CSPermissionDenied   = orchestrate.CSPermissionDenied
	CSCloudRuntime       = orchestrate.CSCloudRuntime
	CSResourceInUse      = orchestrate.CSResourceInUse
	CSResourceAllocation = orchestrate.CSResourceAllocation
)

// Error is a CloudStack error response.
type Error = orchestrate.Error

// Errorf, ErrParam, ErrDenied, ErrInUse and ErrInternal build the Errors of orchestrate's
// names.
var (
	Errorf      = orchestrate.Errorf
	ErrParam    = orchestrate.ErrParam
	ErrDenied   = orchestrate.ErrDenied
	ErrInUse    = orchestrate.ErrInUse
	ErrInternal = orchestrate.ErrInternal
)

// ErrMissing is CloudStack's answer to a missing required parameter.
func ErrMissing(cmd, param string) *Error {
	return Errorf(CodeParam, CSServerAPI, "Unable to execute API command %s due to missing parameter %s", strings.ToLower(cmd), param)
}

// ErrInvalid is CloudStack's answer to a parameter whose value has the wrong form.
func ErrInvalid(cmd, param, value, why string) *Error {
	return Errorf(CodeParam, CSServerAPI, "Unable to execute API command %s due to invalid value. Invalid parameter %s value=%s due to %s",
		strings.ToLower(cmd), param, value, why)
}

// ErrLength is CloudStack's answer to a parameter value longer than the parameter allows
// (ParamProcessWorker; CloudStack names the Java field, we name the parameter).
func ErrLength(cmd, param string, max int) *Error {
	return Errorf(CodeParam, CSServerAPI, "Unable to execute API command %s due to invalid value. Value greater than max allowed length %d for param: %s",
		strings.ToLower(cmd), max, param)
}

// ErrTooMany refuses a list or map parameter with more items than we accept (CloudStack sets
// no bound; the wording follows ErrLength's).
func ErrTooMany(cmd, param string, max int) *Error {
	return Errorf(CodeParam, CSServerAPI, "Unable to execute API command %s due to invalid value. More than max allowed %d items for param: %s",
		strings.ToLower(cmd), max, param)
}

// ErrInternalGeneric is CloudStack's answer to an unexpected failure: the details go to the
// log, never to the caller (they may carry SQL or driver text).
func ErrInternalGeneric() *Error {
	return ErrInternal("%s", jobs.InternalErrorText)
}

var errUnauthorized = &Error{Code: CodeUnauthorized, CSCode: CSServerAPI, Text: "unable to verify user credentials and/or request signature"}

func errUnknownCommand(name string) *Error {
	return Errorf(CodeUnsupported, CSServerAPI, "The given command %s does not exist or it is not available for user", name)
}

// cause is what may be said to the caller of a failure's cause: an API error's own text, or an
// agent's or hypervisor's words as they are; a database error is logged and replaced by
// CloudStack's generic words, since its text may carry SQL, table names or driver messages.
func (c *Call) cause(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Text
	}
	if db.IsDatabaseError(err) {
		c.S.Log.Error("command failed", "command", c.Cmd.Name, "err", err)
		return jobs.InternalErrorText
	}
	return err.Error()
}
