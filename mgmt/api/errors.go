package api

import (
	"errors"
	"fmt"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/jobs"
)

// CloudStack's API error codes (ApiErrorCode) and the exception codes (CSExceptionErrorCode)
// that go with them in "cserrorcode".
const (
	CodeUnauthorized     = 401
	CodeMalformed        = 430
	CodeParam            = 431
	CodeUnsupported      = 432
	CodeInternal         = 530
	CodeAccount          = 531
	CodeResourceLimit    = 532
	CodeCapacity         = 533
	CodeUnavailable      = 534
	CodeResourceInUse    = 536
	CSServerAPI          = 9999
	CSInvalidParameter   = 4350
	CSPermissionDenied   = 4365
	CSCloudRuntime       = 4250
	CSResourceInUse      = 4375
	CSResourceAllocation = 4370
)

// Error is a CloudStack error response.
type Error struct {
	Code     int // errorcode and HTTP status
	CSCode   int // cserrorcode
	Text     string
	UUIDList []string
}

func (e *Error) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Text) }

// Errorf builds an Error.
func Errorf(code, cs int, format string, args ...any) *Error {
	return &Error{Code: code, CSCode: cs, Text: fmt.Sprintf(format, args...)}
}

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

// ErrParam is an InvalidParameterValueException raised by business rules (431/4350).
func ErrParam(format string, args ...any) *Error {
	return Errorf(CodeParam, CSInvalidParameter, format, args...)
}

// ErrDenied is a PermissionDeniedException (531/4365).
func ErrDenied(format string, args ...any) *Error {
	return Errorf(CodeAccount, CSPermissionDenied, format, args...)
}

// ErrInUse refuses to remove something still in use (CloudStack answers these as 431/4350 or
// 536/4375; we use 536 where CloudStack's ResourceInUseException applies).
func ErrInUse(format string, args ...any) *Error {
	return Errorf(CodeResourceInUse, CSResourceInUse, format, args...)
}

// ErrInternal is an unexpected server failure (530).
func ErrInternal(format string, args ...any) *Error {
	return Errorf(CodeInternal, CSCloudRuntime, format, args...)
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
