package kvm

import (
	"context"
	"sync"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
)

// WatchPower subscribes to libvirt's domain lifecycle events and passes on the name of each
// domain that stops, shuts down or crashes while no operation of this driver holds it (a
// StopVM, RebootVM, MigrateVM ... in progress reports through its own result). When the
// connection to libvirtd is lost the subscription is made again on the next one.
func (d *Driver) WatchPower(ctx context.Context) <-chan string {
	out := make(chan string, 16)
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			if err := d.watchOnce(ctx, out); err != nil && ctx.Err() == nil {
				d.log.Debug("lifecycle events: subscribe", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return out
}

// watchOnce forwards events from one connection until it ends.
func (d *Driver) watchOnce(ctx context.Context, out chan<- string) error {
	s, err := d.conn.get(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := s.l.LifecycleEvents(wctx)
	if err != nil {
		return err
	}
	for ev := range events {
		switch libvirt.DomainEventType(ev.Event) {
		case libvirt.DomainEventStopped, libvirt.DomainEventShutdown, libvirt.DomainEventCrashed:
		default:
			continue
		}
		if d.busy(ev.Dom.Name) {
			continue
		}
		select {
		case out <- ev.Dom.Name:
		default:
		}
	}
	return nil
}

// busy reports whether an operation of this driver holds the VM now.
func (d *Driver) busy(name string) bool {
	m, ok := d.locks.Load(name)
	if !ok {
		return false
	}
	mu := m.(*sync.Mutex)
	if mu.TryLock() {
		mu.Unlock()
		return false
	}
	return true
}
