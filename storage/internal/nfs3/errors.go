package nfs3

import (
	"fmt"
	"io/fs"
)

// Status is an NFSv3 status code (RFC 1813 nfsstat3) other than NFS3_OK.
type Status uint32

// Status codes Atoll tells apart.
const (
	ErrPerm     Status = 1
	ErrNoEnt    Status = 2
	ErrIO       Status = 5
	ErrAcces    Status = 13
	ErrExist    Status = 17
	ErrNotDir   Status = 20
	ErrIsDir    Status = 21
	ErrNoSpc    Status = 28
	ErrRofs     Status = 30
	ErrNotEmpty Status = 66
	ErrStale    Status = 70
	ErrNotSupp  Status = 10004
	ErrJukebox  Status = 10008
)

var statusNames = map[Status]string{
	1: "NFS3ERR_PERM", 2: "NFS3ERR_NOENT", 5: "NFS3ERR_IO", 6: "NFS3ERR_NXIO",
	13: "NFS3ERR_ACCES", 17: "NFS3ERR_EXIST", 18: "NFS3ERR_XDEV", 19: "NFS3ERR_NODEV",
	20: "NFS3ERR_NOTDIR", 21: "NFS3ERR_ISDIR", 22: "NFS3ERR_INVAL", 27: "NFS3ERR_FBIG",
	28: "NFS3ERR_NOSPC", 30: "NFS3ERR_ROFS", 31: "NFS3ERR_MLINK", 63: "NFS3ERR_NAMETOOLONG",
	66: "NFS3ERR_NOTEMPTY", 69: "NFS3ERR_DQUOT", 70: "NFS3ERR_STALE", 71: "NFS3ERR_REMOTE",
	10001: "NFS3ERR_BADHANDLE", 10002: "NFS3ERR_NOT_SYNC", 10003: "NFS3ERR_BAD_COOKIE",
	10004: "NFS3ERR_NOTSUPP", 10005: "NFS3ERR_TOOSMALL", 10006: "NFS3ERR_SERVERFAULT",
	10007: "NFS3ERR_BADTYPE", 10008: "NFS3ERR_JUKEBOX",
}

func (s Status) Error() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("NFS3ERR_%d", uint32(s))
}

// Is lets errors.Is(err, fs.ErrNotExist) and friends work on NFS statuses.
func (s Status) Is(target error) bool {
	switch target {
	case fs.ErrNotExist:
		return s == ErrNoEnt
	case fs.ErrExist:
		return s == ErrExist
	case fs.ErrPermission:
		return s == ErrPerm || s == ErrAcces
	}
	return false
}

// OpError is an NFS procedure that failed on a path.
type OpError struct {
	Op   string
	Path string
	Err  error
}

func (e *OpError) Error() string { return "nfs " + e.Op + " " + e.Path + ": " + e.Err.Error() }
func (e *OpError) Unwrap() error { return e.Err }
