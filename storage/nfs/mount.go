package nfs

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/atollcloud/atoll/storage"
)

// mountKernel mounts host:export at target with the kernel NFS client (NFSv3 over TCP; the
// kernel speaks MOUNT itself when given addr=), unless it is mounted there already. A mount
// that hangs is left behind when ctx ends: the kernel holds the thread, not us.
func mountKernel(ctx context.Context, c Config, target string) error {
	if ok, why := KernelHasNFS(c.ProcFilesystems, c.ModulesDir); !ok {
		return fmt.Errorf("nfs: mount %s:%s on %s: %w (%s); use mode userspace", c.Host, c.Export, target, storage.ErrNoKernelNFS, why)
	}
	if mounted, err := isMountPoint(target); err != nil {
		return err
	} else if mounted {
		return nil
	}
	addrs, err := net.DefaultResolver.LookupHost(ctx, c.Host)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("nfs: resolve %s: %w", c.Host, err)
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("nfs: mount point: %w", err)
	}
	opts := "vers=3,proto=tcp,addr=" + addrs[0]
	if c.MountOptions != "" {
		opts += "," + c.MountOptions
	}
	src := c.Host + ":" + c.Export
	if strings.Contains(c.Host, ":") {
		src = "[" + c.Host + "]:" + c.Export
	}
	done := make(chan error, 1)
	go func() { done <- syscall.Mount(src, target, "nfs", 0, opts) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("nfs: mount %s on %s (%s): %w", src, target, opts, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("nfs: mount %s on %s: %w", src, target, ctx.Err())
	}
}

// isMountPoint reports whether target is a mount point in /proc/self/mountinfo.
func isMountPoint(target string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("nfs: %w", err)
	}
	defer f.Close()
	want := filepath.Clean(target)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMount(fields[4]) == want {
			return true, nil
		}
	}
	return false, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
