package kvm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/atollcloud/atoll/hypervisor"
)

// The config drive is CloudStack's (engine/storage/configdrive ConfigDriveBuilder): an ISO
// 9660 image with Rock Ridge and Joliet, volume label config-2, holding
//
//	cloudstack/userdata/user_data.txt        the user data, decoded from base64
//	cloudstack/metadata/<name>.txt           one file per metadata item (local-hostname, ...)
//	cloudstack/password/vm_password.txt      the password, when there is one
//	openstack/latest/meta_data.json          the metadata in OpenStack's names
//	openstack/latest/user_data               the user data again (a hard link)
//	openstack/latest/vendor_data.json        {}
//	openstack/latest/network_data.json       links and networks of the NICs
const (
	configDriveLabel   = "config-2"
	configDriveMaxSize = 64 << 20 // CloudStack refuses larger config drives
)

// openStackNames maps CloudStack metadata file names to meta_data.json keys
// (NetworkModel.openStackFileMapping).
var openStackNames = map[string]string{
	"availability-zone":    "availability_zone",
	"local-hostname":       "hostname",
	"vm-id":                "uuid",
	"public-hostname":      "name",
	"cloud-domain":         "cloud-domain",
	"cloud-domain-id":      "cloud-domain-id",
	"cloud-name":           "cloud-name",
	"hypervisor-host-name": "hypervisor-host-name",
}

// configDriveFiles returns the files of a VM's config drive by path inside the ISO. Files with
// empty content are left out, as CloudStack does; their directories are still made (a path
// ending in "/" is a directory).
func configDriveFiles(spec hypervisor.VMSpec) (map[string][]byte, error) {
	cd := spec.ConfigDrive
	if cd == nil {
		cd = &hypervisor.ConfigDrive{}
	}
	files := map[string][]byte{
		"cloudstack/userdata/": nil, "cloudstack/metadata/": nil,
		"openstack/latest/vendor_data.json": []byte("{}"),
	}
	if spec.UserData != "" {
		ud, err := base64.StdEncoding.DecodeString(strings.TrimSpace(spec.UserData))
		if err != nil {
			return nil, fmt.Errorf("config drive: user data is not base64: %w", err)
		}
		files["cloudstack/userdata/user_data.txt"] = ud
		files["openstack/latest/user_data"] = ud
	}
	md := map[string]string{}
	id := spec.UUID
	if id == "" {
		id = spec.Name
	}
	md["instance-id"], md["vm-id"] = id, id
	md["local-hostname"] = spec.Hostname
	if md["local-hostname"] == "" {
		md["local-hostname"] = spec.Name
	}
	md["local-ipv4"] = defaultIP(spec.Nics)
	md["public-ipv4"] = md["local-ipv4"]
	md["public-keys"] = strings.Join(spec.SSHKeys, "\n")
	for k, v := range cd.Metadata {
		if k == "" || strings.ContainsAny(k, "/\x00") {
			return nil, fmt.Errorf("config drive: invalid metadata name %q", k)
		}
		md[k] = v
	}
	meta := map[string]any{}
	for k, v := range md {
		if v == "" {
			continue
		}
		files["cloudstack/metadata/"+k+".txt"] = []byte(v)
		if k == "public-keys" {
			name := "key"
			if f := strings.Split(strings.ReplaceAll(v, `\n`, ""), " "); len(f) > 3 && f[2] != "" {
				name = f[2]
			}
			meta["keys"] = []map[string]string{{"type": "ssh", "data": strings.ReplaceAll(v, `\n`, ""), "name": name}}
			meta["public_keys"] = map[string]string{name: v}
		} else if key := openStackNames[k]; key != "" {
			meta[key] = v
		}
	}
	if cd.Password != "" {
		files["cloudstack/password/vm_password.txt"] = []byte(cd.Password)
	}
	mj, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("config drive: meta_data.json: %w", err)
	}
	files["openstack/latest/meta_data.json"] = mj
	nj, err := json.Marshal(networkData(spec.Nics))
	if err != nil {
		return nil, fmt.Errorf("config drive: network_data.json: %w", err)
	}
	files["openstack/latest/network_data.json"] = nj
	return files, nil
}

// defaultIP is the IPv4 address of the default NIC, else of the first NIC that has one.
func defaultIP(nics []hypervisor.NicSpec) string {
	for _, n := range nics {
		if n.IsDefault && n.IP != "" {
			return n.IP
		}
	}
	for _, n := range sortedNics(nics) {
		if n.IP != "" {
			return n.IP
		}
	}
	return ""
}

// networkData is OpenStack's network_data.json: a link per NIC (ethN by device id) and an ipv4
// network per NIC with an address, its default route through the NIC's gateway.
func networkData(nics []hypervisor.NicSpec) map[string]any {
	var links, networks []map[string]any
	for _, n := range sortedNics(nics) {
		if n.MAC == "" {
			continue
		}
		eth := fmt.Sprintf("eth%d", n.DeviceID)
		links = append(links, map[string]any{"ethernet_mac_address": strings.ToLower(n.MAC), "id": eth, "mtu": 1500, "type": "phy"})
		if n.IP == "" {
			continue
		}
		nw := map[string]any{"id": eth, "ip_address": n.IP, "link": eth, "netmask": n.Netmask, "network_id": n.NetworkID, "type": "ipv4"}
		if n.Gateway != "" {
			nw["routes"] = []map[string]string{{"gateway": n.Gateway, "netmask": "0.0.0.0", "network": "0.0.0.0"}}
		}
		networks = append(networks, nw)
	}
	out := map[string]any{}
	if len(links) > 0 {
		out["links"] = links
	}
	if len(networks) > 0 {
		out["networks"] = networks
	}
	return out
}

// writeTree writes files (by configDriveFiles' paths) under root; the OpenStack user_data is a
// hard link to the CloudStack one, so the ISO stores it once.
func writeTree(root string, files map[string][]byte) error {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(root, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if p == "openstack/latest/user_data" {
			if err := os.Link(filepath.Join(root, "cloudstack", "userdata", "user_data.txt"), full); err == nil {
				continue
			}
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// buildConfigDrive writes the config drive ISO of spec to iso (replacing it atomically), with
// genisoimage and CloudStack's options.
func buildConfigDrive(ctx context.Context, genisoimage, iso string, spec hypervisor.VMSpec) error {
	files, err := configDriveFiles(spec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(iso), 0o755); err != nil {
		return fmt.Errorf("config drive: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(iso), ".configdrive-")
	if err != nil {
		return fmt.Errorf("config drive: %w", err)
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "root")
	if err := writeTree(root, files); err != nil {
		return fmt.Errorf("config drive: write files: %w", err)
	}
	out := filepath.Join(tmp, "drive.iso")
	cmd := exec.CommandContext(ctx, genisoimage, "-o", out, "-ldots", "-allow-lowercase", "-allow-multidot",
		"-cache-inodes", "-l", "-quiet", "-J", "-r", "-V", configDriveLabel, root)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("config drive: %s: %w: %s", genisoimage, err, strings.TrimSpace(stderr.String()))
	}
	st, err := os.Stat(out)
	if err != nil {
		return fmt.Errorf("config drive: %w", err)
	}
	if st.Size() > configDriveMaxSize {
		return fmt.Errorf("config drive: %d bytes exceeds the 64 MiB limit", st.Size())
	}
	if err := os.Rename(out, iso); err != nil {
		return fmt.Errorf("config drive: %w", err)
	}
	return nil
}
