package db

import "context"

// States of a volume uploaded to an image store (CloudStack's Volume.State), before it is
// copied to a pool on its first attach: NotUploaded until its bytes arrive, UploadOp while
// they do, Uploaded once they have (VolumeUploaded), UploadError when they were refused,
// UploadAbandoned when they never came.
const (
	VolumeNotUploaded     = "NotUploaded"
	VolumeUploadOp        = "UploadOp"
	VolumeUploadError     = "UploadError"
	VolumeUploadAbandoned = "UploadAbandoned"
	VolumeCopying         = "Copying" // an Uploaded volume being copied to a pool
)

// States of a template copy being uploaded (CloudStack's Status.NOT_UPLOADED ...): it is
// DOWNLOADED (DownloadDone) once its bytes are in the store.
const (
	UploadNotStarted = "NOT_UPLOADED"
	UploadInProgress = "UPLOAD_IN_PROGRESS"
	UploadError      = "UPLOAD_ERROR"
)

// UploadAbandoned is a template copy whose bytes never came.
const UploadAbandoned = "UPLOAD_ABANDONED"

// ListTemplateCopiesInState returns the live template copies in a download state.
func ListTemplateCopiesInState(ctx context.Context, q Querier, state string) ([]*TemplateCopy, error) {
	return templateCopies(ctx, q, "download_state = ? AND removed IS NULL", []any{state})
}
