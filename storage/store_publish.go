package storage

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Publish checks a file written to tmp on the store (an upload) against the declared format
// (qcow2, raw or iso, any case; "" accepts any of them) as Download checks a download, and
// renames it to path. A file that fails the check is removed.
func (s *ImageStore) Publish(ctx context.Context, tmp, path, declared string) (format string, virtualSize int64, err error) {
	if err := CheckPath(tmp); err != nil {
		return "", 0, err
	}
	if err := CheckPath(path); err != nil {
		return "", 0, err
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			s.fs.Remove(cctx, tmp)
		}
	}()
	declared = strings.ToLower(declared)
	switch declared {
	case "", FormatQCOW2, FormatRaw, FormatISO:
	default:
		return "", 0, fmt.Errorf("format %q: the image store takes qcow2, raw and iso", declared)
	}
	format, virtualSize, err = s.checkFormat(ctx, tmp, declared)
	if err != nil {
		return "", 0, err
	}
	if err := s.fs.Rename(ctx, tmp, path); err != nil {
		return "", 0, err
	}
	return format, virtualSize, nil
}
