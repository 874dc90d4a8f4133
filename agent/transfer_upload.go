package agent

import (
	"context"
	"fmt"
	"io"
	"path"
	"sync"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/storage"
)

// uploads are the files being written chunk by chunk into image stores (WriteFile), by
// store and path. A file is written to <path>.upload and takes its name only when its last
// chunk has landed and qemu-img has checked it; an upload left without a chunk for
// uploadIdle is dropped, its partial file removed.
type uploads struct {
	mu sync.Mutex
	m  map[protocol.StoreFile]*upload
}

type upload struct {
	w      io.WriteCloser
	cancel context.CancelFunc
	store  *storage.ImageStore
	tmp    string
	off    int64
	last   time.Time
}

const uploadIdle = 10 * time.Minute

func uploadTemp(p string) string { return p + ".upload" }

func (u *uploads) write(ctx context.Context, hs *HostStorage, r protocol.WriteFile) (protocol.FileWritten, error) {
	if err := storage.CheckPath(r.Path); err != nil {
		return protocol.FileWritten{}, err
	}
	if len(r.Data) > protocol.MaxChunk {
		return protocol.FileWritten{}, fmt.Errorf("write %s: a chunk of %d bytes exceeds %d", r.Path, len(r.Data), protocol.MaxChunk)
	}
	store, err := hs.Store(ctx, r.Store)
	if err != nil {
		return protocol.FileWritten{}, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.reap()
	if u.m == nil {
		u.m = map[protocol.StoreFile]*upload{}
	}
	x := u.m[r.StoreFile]
	if r.Offset == 0 {
		if x != nil {
			x.drop()
		}
		tmp := uploadTemp(r.Path)
		if dir := path.Dir(r.Path); dir != "." {
			if err := store.FS().MkdirAll(ctx, dir); err != nil {
				return protocol.FileWritten{}, err
			}
		}
		// The writer outlives this command: the next chunks arrive in later ones.
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		w, err := store.FS().Create(wctx, tmp)
		if err != nil {
			cancel()
			return protocol.FileWritten{}, err
		}
		x = &upload{w: w, cancel: cancel, store: store, tmp: tmp}
		u.m[r.StoreFile] = x
	}
	if x == nil {
		return protocol.FileWritten{}, fmt.Errorf("write %s at %d: no upload in progress (it starts at offset 0)", r.Path, r.Offset)
	}
	if r.Offset != x.off {
		return protocol.FileWritten{}, fmt.Errorf("write %s at %d: the upload is at %d", r.Path, r.Offset, x.off)
	}
	if _, err := x.w.Write(r.Data); err != nil {
		x.drop()
		delete(u.m, r.StoreFile)
		return protocol.FileWritten{}, fmt.Errorf("write %s: %w", r.Path, err)
	}
	x.off += int64(len(r.Data))
	x.last = time.Now()
	if !r.Last {
		return protocol.FileWritten{Size: x.off}, nil
	}
	delete(u.m, r.StoreFile)
	err = x.w.Close()
	defer x.cancel()
	if err == nil && r.Size != x.off {
		err = fmt.Errorf("upload of %s: %d bytes written, %d expected", r.Path, x.off, r.Size)
	}
	if err != nil {
		x.remove()
		return protocol.FileWritten{}, err
	}
	format, vsize, err := store.Publish(ctx, x.tmp, r.Path, "")
	if err != nil {
		return protocol.FileWritten{}, fmt.Errorf("upload of %s: %w", r.Path, err)
	}
	return protocol.FileWritten{Size: x.off, Format: format, VirtualSize: vsize}, nil
}

// forget drops an upload in progress at f (its file is being deleted).
func (u *uploads) forget(f protocol.StoreFile) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if x, ok := u.m[f]; ok {
		x.drop()
		delete(u.m, f)
	}
}

// reap drops uploads idle for longer than uploadIdle; u.mu is held.
func (u *uploads) reap() {
	for k, x := range u.m {
		if time.Since(x.last) > uploadIdle {
			x.drop()
			delete(u.m, k)
		}
	}
}

// drop abandons an upload: its partial file is of no use, so a failed close does not matter.
func (x *upload) drop() {
	_ = x.w.Close()
	x.cancel()
	x.remove()
}

// remove deletes the partial file (best effort: a leftover .upload file is never published).
func (x *upload) remove() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = x.store.Delete(ctx, x.tmp)
}
