package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// Errors Open answers besides the unexpected ones.
var (
	// ErrSimulated: the object lives on a simulated image store, where nothing is stored.
	ErrSimulated = errors.New("the file is on a simulated image store: no bytes are stored there to download")
	// ErrGone: the object or its file no longer exists.
	ErrGone = errors.New("the extracted file no longer exists")
	// ErrNoHost: no host of the store's zone is Up to read it.
	ErrNoHost = errors.New("no host of the image store's zone is Up to read the file")
)

// ChunkTimeout bounds one chunk's command.
var ChunkTimeout = 2 * time.Minute

// File is a file on an image store, read through a host of the store's zone in chunks of
// protocol.MaxChunk. It is an io.ReadSeeker for http.ServeContent (Range, HEAD).
type File struct {
	Size int64

	ctx  context.Context
	d    *orchestrate.Deps
	host string
	ref  protocol.StoreFile
	off  int64
	buf  []byte // the chunk read last, from bufO
	bufO int64
	// ahead is the read of the chunk after buf, started when buf was filled, so that the host
	// reads it while the client takes buf.
	ahead  chan chunk
	aheadO int64
}

type chunk struct {
	data []byte
	err  error
}

// Open finds the file an extract token names, checks that its object still exists, and reads
// its first chunk (which gives its size).
func Open(ctx context.Context, d *orchestrate.Deps, t Token) (*File, error) {
	q := d.DB.Read()
	switch t.Kind {
	case KindTemplate:
		if _, err := db.GetTemplate(ctx, q, t.ID); errors.Is(err, db.ErrNotFound) {
			return nil, ErrGone
		} else if err != nil {
			return nil, err
		}
		copies, err := db.ListTemplateCopies(ctx, q, t.ID, "")
		if err != nil {
			return nil, err
		}
		found := false
		for _, cp := range copies {
			if cp.StoreID == t.StoreID && cp.DownloadState == db.DownloadDone {
				if cp.Simulated {
					return nil, ErrSimulated
				}
				found = cp.InstallPath == t.Path
			}
		}
		if !found {
			return nil, ErrGone
		}
	case KindVolume:
		if _, err := db.GetVolume(ctx, q, t.ID); errors.Is(err, db.ErrNotFound) {
			return nil, ErrGone
		} else if err != nil {
			return nil, err
		}
		if t.Path == "" {
			return nil, ErrSimulated
		}
		if !strings.HasPrefix(t.Path, VolumeExtractDir(t.ID)+"/") {
			return nil, ErrGone
		}
	default:
		return nil, ErrGone
	}
	store, err := db.GetImageStore(ctx, q, t.StoreID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrGone
	}
	if err != nil {
		return nil, err
	}
	host, err := StoreHost(ctx, q, store.ZoneID)
	if err != nil {
		return nil, err
	}
	if host == nil {
		return nil, ErrNoHost
	}
	if d.Agents == nil {
		return nil, orchestrate.ErrInternal("the agents manager is not running on this management server")
	}
	f := &File{ctx: ctx, d: d, host: host.ID, ref: protocol.StoreFile{Store: protocol.ImageStoreRef{ID: store.ID, URL: store.URL}, Path: t.Path}}
	if err := f.fill(0); err != nil {
		return nil, err
	}
	return f, nil
}

// VolumeExtractDir is where extractVolume copies a volume on an image store.
func VolumeExtractDir(volumeID string) string { return "volumes/extract/" + volumeID }

// StoreHost picks the host that reads and writes a zone's image stores: the first real
// routing host Up (by creation, as template downloads pick theirs); nil if none.
func StoreHost(ctx context.Context, q db.Querier, zoneID string) (*db.Host, error) {
	hosts, _, err := db.ListHosts(ctx, q, db.HostFilter{ZoneID: zoneID, Status: db.HostStatusUp})
	if err != nil {
		return nil, err
	}
	for _, h := range hosts {
		if !strings.EqualFold(h.HypervisorType, "Simulator") && h.Type == db.HostTypeRouting {
			return h, nil
		}
	}
	return nil, nil
}

// fill reads the chunk at off into the buffer (taking it from the read ahead when that is the
// one), then starts reading the next one ahead.
func (f *File) fill(off int64) error {
	var data []byte
	var err error
	if f.ahead != nil && f.aheadO == off {
		c := <-f.ahead
		data, err = c.data, c.err
	} else {
		data, err = f.read(off)
	}
	f.ahead = nil
	if err != nil {
		return err
	}
	f.buf, f.bufO = data, off
	if next := off + int64(len(data)); next < f.Size {
		ch := make(chan chunk, 1)
		f.ahead, f.aheadO = ch, next
		go func() {
			d, err := f.read(next)
			ch <- chunk{d, err}
		}()
	}
	return nil
}

// read asks the host for the chunk at off; the first read (off 0) sets the file's size.
func (f *File) read(off int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(f.ctx, ChunkTimeout)
	defer cancel()
	ans, err := f.d.Agents.Send(ctx, f.host, protocol.CmdReadFile, protocol.ReadFile{StoreFile: f.ref, Offset: off, Length: protocol.MaxChunk})
	if err != nil {
		return nil, fmt.Errorf("read %s on host %s: %w", f.ref.Path, f.host, err)
	}
	if !ans.OK {
		return nil, fmt.Errorf("read %s on host %s: %s", f.ref.Path, f.host, ans.Error)
	}
	var c protocol.FileChunk
	if err := json.Unmarshal(ans.Body, &c); err != nil {
		return nil, fmt.Errorf("read %s on host %s: %w", f.ref.Path, f.host, err)
	}
	if off == 0 && f.Size == 0 {
		f.Size = c.Size
	} else if c.Size != f.Size {
		return nil, fmt.Errorf("read %s: the file changed size (%d, was %d) while being read", f.ref.Path, c.Size, f.Size)
	}
	if len(c.Data) == 0 && off < f.Size {
		return nil, fmt.Errorf("read %s: no bytes at %d of %d", f.ref.Path, off, f.Size)
	}
	return c.Data, nil
}

// Read reads from the current offset.
func (f *File) Read(p []byte) (int, error) {
	if f.off >= f.Size {
		return 0, io.EOF
	}
	if f.off < f.bufO || f.off >= f.bufO+int64(len(f.buf)) {
		if err := f.fill(f.off); err != nil {
			return 0, err
		}
	}
	n := copy(p, f.buf[f.off-f.bufO:])
	f.off += int64(n)
	return n, nil
}

// Seek moves the offset (http.ServeContent seeks to a range's start and to the end for the
// size).
func (f *File) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += f.Size
	default:
		return 0, errors.New("seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("seek: negative offset")
	}
	f.off = offset
	return offset, nil
}
