package allinone

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SystemLibvirtSocket is where a packaged libvirtd listens.
const SystemLibvirtSocket = "/run/libvirt/libvirt-sock"

// socketAnswers reports whether a unix socket accepts a connection.
func socketAnswers(path string) bool {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// libvirt is the libvirtd the host uses: the system one, or a private one this package started
// (or found running, left by an earlier start of the same data directory) under dir.
type libvirt struct {
	socket  string
	private bool
	dir     string
}

// startLibvirt uses the system libvirtd when its socket answers, else starts a private
// libvirtd and virtlogd under dir through scripts/libvirtd.sh.
func startLibvirt(ctx context.Context, sdir, system, dir string) (*libvirt, error) {
	if system == "" {
		system = SystemLibvirtSocket
	}
	if socketAnswers(system) {
		return &libvirt{socket: system}, nil
	}
	l := &libvirt{private: true, dir: dir}
	// A private instance left running by an earlier start (killed without its shutdown) is
	// reused: its guests keep running.
	if pidAlive(filepath.Join(dir, "libvirtd.pid")) {
		env, err := os.ReadFile(filepath.Join(dir, "env"))
		if l.socket = envValue(string(env), "LIBVIRT_SOCKET"); err == nil && socketAnswers(l.socket) {
			return l, nil
		}
		if _, err := runScript(ctx, sdir, "libvirtd.sh", "stop", dir); err != nil {
			return nil, err
		}
	}
	out, err := runScript(ctx, sdir, "libvirtd.sh", "start", dir)
	if err != nil {
		return nil, fmt.Errorf("start a private libvirtd: %w", err)
	}
	if l.socket = envValue(out, "LIBVIRT_SOCKET"); l.socket == "" {
		runScript(context.WithoutCancel(ctx), sdir, "libvirtd.sh", "stop", dir)
		return nil, fmt.Errorf("libvirtd.sh printed no LIBVIRT_SOCKET: %q", out)
	}
	return l, nil
}

// stop ends a private libvirtd (its guests, libvirtd, virtlogd) by the PIDs it recorded.
func (l *libvirt) stop(ctx context.Context, scripts string) error {
	if l == nil || !l.private {
		return nil
	}
	_, err := runScript(ctx, scripts, "libvirtd.sh", "stop", l.dir)
	return err
}

// ganesha is an nfs-ganesha this package started, serving exports on loopback.
type ganesha struct {
	dir     string   // its state directory
	exports []string // the exported paths, in order
}

// startGanesha serves dirs over NFSv3 on 127.0.0.1 (the port is machine-wide: the script
// waits for another ganesha to go away, up to 300 s).
func startGanesha(ctx context.Context, scripts, state string, dirs ...string) (*ganesha, error) {
	args := append([]string{"start", state}, dirs...)
	out, err := runScript(ctx, scripts, "ganesha.sh", args...)
	if err != nil {
		return nil, fmt.Errorf("serve NFS: %w", err)
	}
	exports := strings.Fields(out)
	if len(exports) != len(dirs) {
		runScript(context.WithoutCancel(ctx), scripts, "ganesha.sh", "stop", state)
		return nil, fmt.Errorf("ganesha.sh printed %q for %d exports", out, len(dirs))
	}
	return &ganesha{dir: state, exports: exports}, nil
}

func (g *ganesha) stop(ctx context.Context, scripts string) error {
	if g == nil {
		return nil
	}
	_, err := runScript(ctx, scripts, "ganesha.sh", "stop", g.dir)
	return err
}
