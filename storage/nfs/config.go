package nfs

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Mode is how the host reaches an export.
type Mode string

// Modes.
const (
	ModeAuto      Mode = ""          // kernel when the kernel has an NFS client, else userspace
	ModeKernel    Mode = "kernel"    // mount at MountRoot/<pool uuid>, then files
	ModeUserspace Mode = "userspace" // qemu-img nfs:// URLs and an NFSv3 client; no mount
)

// ParseMode reads a mode from configuration ("", "auto", "kernel", "userspace").
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return ModeAuto, nil
	case "kernel":
		return ModeKernel, nil
	case "userspace":
		return ModeUserspace, nil
	}
	return "", fmt.Errorf("nfs mode %q: want auto, kernel or userspace", s)
}

// Config locates an export and says how to reach it.
type Config struct {
	Host   string // name or address of the NFS server
	Export string // absolute path of the export on the server
	// ID names the pool or store; in kernel mode the mount point is MountRoot/ID.
	ID   string
	Mode Mode
	// MountRoot is where kernel mode mounts exports. Default /mnt (CloudStack's).
	MountRoot string
	// ProcFilesystems and ModulesDir are probed for an NFS client in ModeAuto and
	// ModeKernel. Defaults /proc/filesystems and /lib/modules/<running kernel>.
	ProcFilesystems string
	ModulesDir      string
	// MountOptions are kernel mount options added to vers=3,proto=tcp,addr=<server>.
	MountOptions string
}

// ParseURL splits a CloudStack storage URL, nfs://host/export/path, into host and export.
func ParseURL(raw string) (host, export string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("nfs url %q: %w", raw, err)
	}
	if u.Scheme != "nfs" {
		return "", "", fmt.Errorf("nfs url %q: scheme must be nfs", raw)
	}
	if u.Hostname() == "" {
		return "", "", fmt.Errorf("nfs url %q: no host", raw)
	}
	if u.Port() != "" {
		return "", "", fmt.Errorf("nfs url %q: a port is not supported (the portmapper finds it)", raw)
	}
	p := path.Clean("/" + u.Path)
	if p == "/" || p != u.Path && p+"/" != u.Path {
		return "", "", fmt.Errorf("nfs url %q: the export path must be absolute and clean", raw)
	}
	return u.Hostname(), p, nil
}

// ConfigFromURL is a Config for a CloudStack storage URL (nfs://host/export), with the
// given id (pool uuid or store name) and mode.
func ConfigFromURL(raw, id string, mode Mode) (Config, error) {
	host, export, err := ParseURL(raw)
	if err != nil {
		return Config{}, err
	}
	return Config{Host: host, Export: export, ID: id, Mode: mode}, nil
}

// URL builds the nfs:// URL qemu-img and libnfs take for a file of an export.
func URL(host, export, file string) string {
	h := host
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		h = "[" + host + "]"
	}
	p := path.Join("/", export, file)
	return "nfs://" + h + (&url.URL{Path: p}).EscapedPath()
}

// KernelHasNFS reports whether the kernel can mount NFS: "nfs" registered in
// /proc/filesystems or an nfs module to load. why says what was probed.
func KernelHasNFS(procFilesystems, modulesDir string) (ok bool, why string) {
	if procFilesystems == "" {
		procFilesystems = "/proc/filesystems"
	}
	if modulesDir == "" {
		if rel, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
			modulesDir = filepath.Join("/lib/modules", strings.TrimSpace(string(rel)))
		}
	}
	if b, err := os.ReadFile(procFilesystems); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) > 0 && f[len(f)-1] == "nfs" {
				return true, "nfs in " + procFilesystems
			}
		}
	}
	if modulesDir != "" {
		if m, _ := filepath.Glob(filepath.Join(modulesDir, "kernel", "fs", "nfs", "nfs.ko*")); len(m) > 0 {
			return true, "module " + m[0]
		}
	}
	return false, fmt.Sprintf("no nfs in %s and no nfs module under %s", procFilesystems, modulesDir)
}

// pick resolves ModeAuto.
func (c Config) pick() (Mode, string) {
	ok, why := KernelHasNFS(c.ProcFilesystems, c.ModulesDir)
	if c.Mode != ModeAuto {
		return c.Mode, why
	}
	if ok {
		return ModeKernel, why
	}
	return ModeUserspace, why
}
