package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/storage"
)

// MaxUploadBytes bounds an upload (CloudStack's max.template.iso.size is 50 GB).
var MaxUploadBytes int64 = 50 << 30

// Body is an upload's bytes: R, of Length bytes (-1 when the client did not say).
type Body struct {
	R      io.Reader
	Length int64
}

// RefusedError is an upload refused for what it is (too large, empty, wrong checksum or
// format): the client's error, answered 4xx. Nothing of it is kept.
type RefusedError struct {
	TooLarge bool
	Msg      string
}

func (e *RefusedError) Error() string { return e.Msg }

// Received is a landed upload.
type Received struct {
	Size        int64
	Format      string
	VirtualSize int64
}

// Receive writes an upload's bytes to t.Path on image store t.StoreID through a host of the
// store's zone, chunk by chunk, verifying its size limit, t.Checksum and t.Format; the file
// takes its name only once whole and checked (the host writes <path>.upload meanwhile). On
// any failure nothing is left on the store.
func Receive(ctx context.Context, d *orchestrate.Deps, t Token, b Body) (Received, error) {
	if b.Length > MaxUploadBytes {
		return Received{}, &RefusedError{TooLarge: true, Msg: fmt.Sprintf("the upload of %d bytes exceeds the limit of %d", b.Length, MaxUploadBytes)}
	}
	sum, err := storage.ParseChecksum(t.Checksum)
	if err != nil {
		return Received{}, &RefusedError{Msg: err.Error()}
	}
	store, host, err := storeAndHost(ctx, d, t.StoreID)
	if err != nil {
		return Received{}, err
	}
	ref := protocol.StoreFile{Store: protocol.ImageStoreRef{ID: store.ID, URL: store.URL}, Path: t.Path}
	started := false
	fail := func(err error) (Received, error) {
		if started {
			discard(context.WithoutCancel(ctx), d, host, ref)
		}
		return Received{}, err
	}
	h := sum.NewHash()
	buf := make([]byte, protocol.MaxChunk)
	var off int64
	for {
		n, rerr := io.ReadFull(b.R, buf)
		last := rerr == io.EOF || rerr == io.ErrUnexpectedEOF
		if rerr != nil && !last {
			return fail(fmt.Errorf("reading the upload: %w", rerr))
		}
		if off+int64(n) > MaxUploadBytes {
			return fail(&RefusedError{TooLarge: true, Msg: fmt.Sprintf("the upload exceeds the limit of %d bytes", MaxUploadBytes)})
		}
		if last && off+int64(n) == 0 {
			return fail(&RefusedError{Msg: "the upload is empty"})
		}
		if last && b.Length >= 0 && off+int64(n) != b.Length {
			return fail(&RefusedError{Msg: fmt.Sprintf("the upload ended after %d of %d bytes", off+int64(n), b.Length)})
		}
		h.Write(buf[:n])
		if last && !sum.IsZero() {
			if got := fmt.Sprintf("%x", h.Sum(nil)); got != sum.Hex {
				return fail(&RefusedError{Msg: fmt.Sprintf("checksum mismatch: uploaded %s, expected %s", storage.Checksum{Algorithm: sum.Algorithm, Hex: got}, sum)})
			}
		}
		started = true
		var w protocol.FileWritten
		err := send(ctx, d, host, protocol.CmdWriteFile, protocol.WriteFile{StoreFile: ref, Offset: off, Data: buf[:n], Last: last, Size: off + int64(n)}, &w)
		if err != nil {
			var ae *agentError
			if last && errors.As(err, &ae) {
				// The host checked the whole file and refused it (qemu-img cannot read it, a
				// qcow2 with a backing file ...).
				return fail(&RefusedError{Msg: "the uploaded image is refused: " + ae.msg})
			}
			return fail(err)
		}
		off += int64(n)
		if !last {
			continue
		}
		got := strings.ToLower(w.Format)
		if t.Format == storage.FormatRaw && got == storage.FormatISO {
			got = storage.FormatRaw // a raw disk may carry an ISO 9660 file system
		}
		if t.Format != "" && got != t.Format {
			return fail(&RefusedError{Msg: fmt.Sprintf("declared %s but the uploaded file is %s", strings.ToUpper(t.Format), strings.ToUpper(got))})
		}
		return Received{Size: off, Format: got, VirtualSize: w.VirtualSize}, nil
	}
}

// Discard removes an upload's file (and any part of it) from its store, best effort.
func Discard(ctx context.Context, d *orchestrate.Deps, t Token) {
	store, host, err := storeAndHost(ctx, d, t.StoreID)
	if err != nil {
		logf(d, "discard an upload", "path", t.Path, "err", err)
		return
	}
	discard(ctx, d, host, protocol.StoreFile{Store: protocol.ImageStoreRef{ID: store.ID, URL: store.URL}, Path: t.Path})
}

func discard(ctx context.Context, d *orchestrate.Deps, host string, ref protocol.StoreFile) {
	if err := send(ctx, d, host, protocol.CmdDeleteStoreFile, ref, nil); err != nil {
		logf(d, "discard an upload", "path", ref.Path, "err", err)
	}
}

func logf(d *orchestrate.Deps, msg string, kv ...any) {
	if d.Log != nil {
		d.Log.Warn(msg, kv...)
	}
}

// storeAndHost loads an image store and picks the host of its zone that reaches it.
func storeAndHost(ctx context.Context, d *orchestrate.Deps, storeID string) (*db.ImageStore, string, error) {
	q := d.DB.Read()
	store, err := db.GetImageStore(ctx, q, storeID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, "", ErrGone
	}
	if err != nil {
		return nil, "", err
	}
	host, err := StoreHost(ctx, q, store.ZoneID)
	if err != nil {
		return nil, "", err
	}
	if host == nil {
		return nil, "", ErrNoHost
	}
	if d.Agents == nil {
		return nil, "", orchestrate.ErrInternal("the agents manager is not running on this management server")
	}
	return store, host.ID, nil
}

// agentError is a command the host ran and answered with an error.
type agentError struct{ msg string }

func (e *agentError) Error() string { return e.msg }

// send runs a command on a host within ChunkTimeout, decoding its answer into out.
func send(ctx context.Context, d *orchestrate.Deps, host, name string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, ChunkTimeout)
	defer cancel()
	ans, err := d.Agents.Send(ctx, host, name, body)
	if err != nil {
		return fmt.Errorf("%s on host %s: %w", name, host, err)
	}
	if !ans.OK {
		return fmt.Errorf("%s on host %s: %w", name, host, &agentError{ans.Error})
	}
	if out != nil {
		if err := json.Unmarshal(ans.Body, out); err != nil {
			return fmt.Errorf("%s on host %s: %w", name, host, err)
		}
	}
	return nil
}
