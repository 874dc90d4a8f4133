package agent

import (
	"context"
	"fmt"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/storage"
)

// transferCommand runs a transfer command (agent/protocol/transfer.go): chunks of image
// store files read and written for the management server, which streams them to and from
// HTTP clients, and volumes copied out to a store. ok is false for any other command.
func (a *Agent) transferCommand(ctx context.Context, cmd protocol.Command) (body any, ok bool, err error) {
	switch cmd.Name {
	case protocol.CmdReadFile, protocol.CmdWriteFile, protocol.CmdDeleteStoreFile, protocol.CmdCopyVolumeToStore:
	default:
		return nil, false, nil
	}
	if a.cfg.Storage == nil {
		return nil, true, errUnsupported(cmd.Name)
	}
	switch cmd.Name {
	case protocol.CmdReadFile:
		var r protocol.ReadFile
		if err := decode(cmd, &r); err != nil {
			return nil, true, err
		}
		body, err = a.readFile(ctx, r)
	case protocol.CmdWriteFile:
		var r protocol.WriteFile
		if err := decode(cmd, &r); err != nil {
			return nil, true, err
		}
		body, err = a.uploads.write(ctx, a.cfg.Storage, r)
	case protocol.CmdDeleteStoreFile:
		var r protocol.StoreFile
		if err := decode(cmd, &r); err != nil {
			return nil, true, err
		}
		err = a.deleteStoreFile(ctx, r)
	case protocol.CmdCopyVolumeToStore:
		var r protocol.CopyVolumeToStore
		if err := decode(cmd, &r); err != nil {
			return nil, true, err
		}
		body, err = a.copyVolumeToStore(ctx, r)
	}
	return body, true, err
}

// uncached reports whether a command's answer stays out of the replay cache: a chunk read
// is harmless to run again and its answer is large.
func uncached(name string) bool { return name == protocol.CmdReadFile }

func (a *Agent) readFile(ctx context.Context, r protocol.ReadFile) (protocol.FileChunk, error) {
	if err := storage.CheckPath(r.Path); err != nil {
		return protocol.FileChunk{}, err
	}
	if r.Length <= 0 || r.Length > protocol.MaxChunk || r.Offset < 0 {
		return protocol.FileChunk{}, fmt.Errorf("read %s: offset %d length %d: want 0 < length <= %d", r.Path, r.Offset, r.Length, protocol.MaxChunk)
	}
	store, err := a.cfg.Storage.Store(ctx, r.Store)
	if err != nil {
		return protocol.FileChunk{}, err
	}
	fi, err := store.Stat(ctx, r.Path)
	if err != nil {
		return protocol.FileChunk{}, err
	}
	if r.Offset >= fi.Size {
		return protocol.FileChunk{Size: fi.Size}, nil
	}
	data, err := store.FS().ReadAt(ctx, r.Path, r.Offset, int(min(int64(r.Length), fi.Size-r.Offset)))
	if err != nil {
		return protocol.FileChunk{}, fmt.Errorf("read %s: %w", r.Path, err)
	}
	return protocol.FileChunk{Data: data, Size: fi.Size}, nil
}

func (a *Agent) deleteStoreFile(ctx context.Context, r protocol.StoreFile) error {
	store, err := a.cfg.Storage.Store(ctx, r.Store)
	if err != nil {
		return err
	}
	a.uploads.forget(r)
	return store.Delete(ctx, r.Path)
}

func (a *Agent) copyVolumeToStore(ctx context.Context, r protocol.CopyVolumeToStore) (protocol.SnapshotAnswer, error) {
	pool, err := a.cfg.Storage.Pool(ctx, r.Volume.Pool)
	if err != nil {
		return protocol.SnapshotAnswer{}, err
	}
	store, err := a.cfg.Storage.Store(ctx, r.Store)
	if err != nil {
		return protocol.SnapshotAnswer{}, err
	}
	b, err := pool.BackupSnapshot(ctx, volumePath(r.Volume), store.FS(), r.Path)
	if err != nil {
		return protocol.SnapshotAnswer{}, err
	}
	fi, err := store.Stat(ctx, b.Path)
	if err != nil {
		return protocol.SnapshotAnswer{}, err
	}
	return protocol.SnapshotAnswer{Path: b.Path, PhysicalSize: fi.Size}, nil
}
