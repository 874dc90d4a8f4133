package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// Template formats the image store accepts.
const (
	FormatQCOW2 = "qcow2"
	FormatRaw   = "raw"
	FormatISO   = "iso"
)

// DownloadRequest asks the store to fetch a template or ISO over HTTP(S).
type DownloadRequest struct {
	URL      string
	Path     string // destination in the store, e.g. TemplatePath(account, id, uuid+".qcow2")
	Checksum string // CloudStack's {ALG}hex or bare hex; "" verifies nothing
	// Format is the declared format (qcow2, raw or iso, any case); "" accepts any of them.
	Format   string
	MaxBytes int64 // 0: the store's limit
	// Progress, when set, is called with the bytes done and the total (-1 when the server
	// sent no length), at most once per StoreOptions.ProgressEvery and once at the end.
	Progress func(done, total int64)
}

// DownloadResult describes a stored template.
type DownloadResult struct {
	Path        string
	Size        int64 // bytes downloaded
	Format      string
	VirtualSize int64
	Checksum    string // {ALG}hex of what was downloaded
}

// DownloadStatus renders progress as CloudStack shows it in a template's status.
func DownloadStatus(done, total int64) string {
	if total <= 0 {
		return strconv.FormatInt(done, 10) + " bytes Downloaded"
	}
	pct := done * 100 / total
	if pct > 100 {
		pct = 100
	}
	return strconv.FormatInt(pct, 10) + "% Downloaded"
}

// Download fetches req.URL into req.Path, verifying the checksum, the size limit and the
// format (qemu-img info; a qcow2 with a backing file is refused). It writes to a hidden
// temporary name and renames on success, so a failed download (HTTP error, mismatch, limit,
// cancellation) leaves nothing behind.
func (s *ImageStore) Download(ctx context.Context, req DownloadRequest) (DownloadResult, error) {
	fail := func(err error) (DownloadResult, error) {
		return DownloadResult{}, fmt.Errorf("download %s: %w", req.URL, err)
	}
	if err := CheckPath(req.Path); err != nil {
		return fail(err)
	}
	sum, err := ParseChecksum(req.Checksum)
	if err != nil {
		return fail(err)
	}
	declared := strings.ToLower(req.Format)
	switch declared {
	case "", FormatQCOW2, FormatRaw, FormatISO:
	default:
		return fail(fmt.Errorf("format %q: the image store takes qcow2, raw and iso", req.Format))
	}
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fail(errors.New("the URL must be http:// or https://"))
	}
	limit := req.MaxBytes
	if limit <= 0 {
		limit = s.opts.MaxBytes
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, req.URL, nil)
	if err != nil {
		return fail(err)
	}
	resp, err := s.http.Do(hreq)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("server answered %s", resp.Status))
	}
	total := resp.ContentLength
	if total > limit {
		return fail(fmt.Errorf("%d bytes exceed the limit of %d", total, limit))
	}
	if dir := path.Dir(req.Path); dir != "." {
		if err := s.fs.MkdirAll(ctx, dir); err != nil {
			return fail(err)
		}
	}
	tmp := tempName(req.Path, randomTag())
	published := false
	defer func() {
		if !published {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			s.fs.Remove(cctx, tmp)
		}
	}()
	start := time.Now()
	h := sum.NewHash()
	n, err := s.copy(ctx, tmp, io.TeeReader(resp.Body, h), total, limit, req.Progress)
	if err != nil {
		return fail(err)
	}
	if total >= 0 && n != total {
		return fail(fmt.Errorf("got %d of %d bytes", n, total))
	}
	got := Checksum{Algorithm: sum.Algorithm, Hex: fmt.Sprintf("%x", h.Sum(nil))}
	if sum.IsZero() {
		got.Algorithm = "MD5"
	}
	if !sum.IsZero() && got.Hex != sum.Hex {
		return fail(fmt.Errorf("checksum mismatch: downloaded %s, expected %s", got, sum))
	}
	format, vsize, err := s.checkFormat(ctx, tmp, declared)
	if err != nil {
		return fail(err)
	}
	if err := s.fs.Rename(ctx, tmp, req.Path); err != nil {
		return fail(err)
	}
	published = true
	s.log.Info("template downloaded", "url", req.URL, "path", req.Path, "bytes", n, "format", format, "took", time.Since(start))
	return DownloadResult{Path: req.Path, Size: n, Format: format, VirtualSize: vsize, Checksum: got.String()}, nil
}

// copy streams r into a new file tmp, enforcing limit and reporting progress.
func (s *ImageStore) copy(ctx context.Context, tmp string, r io.Reader, total, limit int64, progress func(done, total int64)) (int64, error) {
	w, err := s.fs.Create(ctx, tmp)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 1<<20)
	var n int64
	last := time.Now()
	for {
		k, rerr := io.ReadFull(r, buf)
		if k > 0 {
			if n+int64(k) > limit {
				w.Close()
				return n, fmt.Errorf("more than the limit of %d bytes", limit)
			}
			if _, err := w.Write(buf[:k]); err != nil {
				w.Close()
				return n, err
			}
			n += int64(k)
			if progress != nil && time.Since(last) >= s.opts.ProgressEvery {
				progress(n, total)
				last = time.Now()
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			w.Close()
			return n, rerr
		}
	}
	if err := w.Close(); err != nil {
		return n, err
	}
	if progress != nil {
		progress(n, total)
	}
	return n, nil
}

// checkFormat identifies a downloaded file and checks it against the declared format.
func (s *ImageStore) checkFormat(ctx context.Context, p, declared string) (string, int64, error) {
	ii, err := s.qemu.Info(ctx, s.fs.Locate(p), "")
	if err != nil {
		return "", 0, fmt.Errorf("not an image qemu-img reads: %w", err)
	}
	format := ii.Format
	switch format {
	case FormatQCOW2:
		if ii.BackingFile != "" {
			return "", 0, fmt.Errorf("qcow2 template has a backing file (%s): refused", ii.BackingFile)
		}
		if ii.Specific.Data.Corrupt {
			return "", 0, errors.New("qcow2 template is marked corrupt")
		}
	case FormatRaw:
		// An ISO 9660 image has "CD001" at byte 32769.
		sig, err := s.fs.ReadAt(ctx, p, 32769, 5)
		if err != nil {
			return "", 0, err
		}
		if bytes.Equal(sig, []byte("CD001")) {
			format = FormatISO
		}
	default:
		return "", 0, fmt.Errorf("format %s is not qcow2, raw or iso", format)
	}
	if declared == FormatRaw && format == FormatISO {
		format = FormatRaw // a raw disk may carry an ISO 9660 file system (hybrid images)
	}
	if declared != "" && declared != format {
		return "", 0, fmt.Errorf("declared %s but the file is %s", declared, format)
	}
	return format, ii.VirtualSize, nil
}
