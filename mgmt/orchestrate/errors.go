package orchestrate

import "fmt"

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
