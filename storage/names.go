package storage

import (
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// HeartbeatDir holds one heartbeat file per host on every pool.
const HeartbeatDir = ".atoll-heartbeat"

// CheckName accepts a file name Atoll may create in a pool or store: 1 to 200 characters of
// letters, digits, '.', '_' and '-', not starting with '.' or '-' (ids are uuids).
func CheckName(name string) error {
	if name == "" || len(name) > 200 {
		return fmt.Errorf("%w %q: length must be 1 to 200", ErrBadName, name)
	}
	if name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("%w %q: must not start with '.' or '-'", ErrBadName, name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%w %q: character %q not allowed", ErrBadName, name, r)
		}
	}
	return nil
}

// CheckPath accepts a relative path whose every element passes CheckName.
func CheckPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p {
		return fmt.Errorf("%w path %q: must be relative and clean", ErrBadName, p)
	}
	for _, el := range strings.Split(p, "/") {
		if err := CheckName(el); err != nil {
			return fmt.Errorf("path %q: %w", p, err)
		}
	}
	return nil
}

// TemplateName is the file name of a template installed in a pool.
func TemplateName(templateID string) string { return "template-" + templateID }

// SnapshotPath is where a snapshot's backup lives on a secondary store
// (the simulator reports the same path).
func SnapshotPath(volumeID, snapshotID string) string {
	return "snapshots/" + volumeID + "/" + snapshotID
}

// TemplatePath is where a downloaded template lives on a secondary store, as CloudStack lays
// them out: template/tmpl/<account id>/<template id>/<file>.
func TemplatePath(accountID, templateID, file string) string {
	return "template/tmpl/" + accountID + "/" + templateID + "/" + file
}

func heartbeatPath(hostID string) string { return HeartbeatDir + "/" + hostID }

// tempName is a hidden sibling of p, unique per call, for copy-then-publish.
func tempName(p, tag string) string {
	dir, file := path.Split(p)
	return dir + "." + file + "." + tag + ".part"
}

// LocationSource turns what qemu-img reports as a backing file (an absolute path, or an
// nfs://host/path URL as userspace NFS pools write them) into a Source, so the hypervisor can
// spell a disk's backing chain out for libvirt.
func LocationSource(loc string) (Source, error) {
	if strings.HasPrefix(loc, "/") {
		return Source{Kind: SourceFile, Path: loc}, nil
	}
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "nfs" || u.Hostname() == "" || !strings.HasPrefix(u.Path, "/") {
		return Source{}, fmt.Errorf("backing file %q: not an absolute path or nfs:// URL", loc)
	}
	s := Source{Kind: SourceNetwork, Protocol: "nfs", Host: u.Hostname(), Name: u.Path}
	if p := u.Port(); p != "" {
		s.Port, _ = strconv.Atoi(p)
	}
	return s, nil
}
