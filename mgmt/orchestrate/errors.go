package orchestrate

import (
	"errors"
	"fmt"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/jobs"
)

// CloudStack's API error codes (ApiErrorCode) and the exception codes (CSExceptionErrorCode)
// that go with them in "cserrorcode". The workflows answer with these; mgmt/api renders them.
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

// Error is a CloudStack error: the API answers it as an errorresponse, a job as its failed
// result.
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

// CloudStack's capacity exception codes (cserrorcode).
const (
	CSInsufficientServerCapacity  = 4310
	CSInsufficientAddressCapacity = 4320
	CSInsufficientVirtualNetwork  = 4340
)

// InternalErrorText is what a caller is told of an unexpected failure: the details go to the
// log, never to the caller (they may carry SQL or driver text).
const InternalErrorText = jobs.InternalErrorText

// Cause is what may be said to the caller of a failure's cause: an Error's own text, or an
// agent's or hypervisor's words as they are; a database error is logged and replaced by
// CloudStack's generic words, since its text may carry SQL, table names or driver messages.
func (d *Deps) Cause(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Text
	}
	if db.IsDatabaseError(err) {
		if d.Log != nil {
			d.Log.Error("workflow failed", "err", err)
		}
		return InternalErrorText
	}
	return err.Error()
}

// VMString is how CloudStack names a VM in messages.
func VMString(v *db.VM) string {
	return fmt.Sprintf("VM instance {\"id\":\"%s\",\"instanceName\":\"%s\",\"name\":\"%s\",\"state\":\"%s\"}", v.ID, v.InstanceName(), v.Name, v.State)
}

// ErrVMState is CloudStack's refusal of an operation in a VM state that does not allow it.
func ErrVMState(v *db.VM, action string) *Error {
	return ErrParam("VM %s is in state %s, unable to %s", VMString(v), v.State, action)
}
