package kvm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/hypervisor"
)

func cdSpec() hypervisor.VMSpec {
	return hypervisor.VMSpec{
		Name: "i-2-10-VM", UUID: "5b0f3b9c-5a43-4a3b-9d3e-0c1c8a7b6f01", Hostname: "web1",
		UserData: base64.StdEncoding.EncodeToString([]byte("#cloud-config\nruncmd: [echo hi]\n")),
		SSHKeys:  []string{"ssh-ed25519 AAAAC3Nza alice@laptop"},
		Nics: []hypervisor.NicSpec{
			{MAC: "02:00:4c:6e:00:02", IP: "10.1.2.9", Netmask: "255.255.255.0", DeviceID: 1, NetworkID: "net-b"},
			{MAC: "02:00:4C:6E:00:01", IP: "10.1.1.5", Netmask: "255.255.255.0", Gateway: "10.1.1.1", DeviceID: 0, IsDefault: true, NetworkID: "net-a"},
		},
		ConfigDrive: &hypervisor.ConfigDrive{Password: "s3cret", Metadata: map[string]string{
			"service-offering": "Small Instance", "availability-zone": "zone1", "hypervisor-host-name": "kvm1",
		}},
	}
}

// TestConfigDriveFiles checks the file tree of the config drive against CloudStack's layout.
func TestConfigDriveFiles(t *testing.T) {
	cases := []struct {
		name   string
		spec   func(*hypervisor.VMSpec)
		files  map[string]string // path -> content ("" for a directory)
		absent []string
		meta   map[string]any // keys of meta_data.json
	}{
		{
			name: "full",
			files: map[string]string{
				"cloudstack/userdata/":                         "",
				"cloudstack/metadata/":                         "",
				"cloudstack/userdata/user_data.txt":            "#cloud-config\nruncmd: [echo hi]\n",
				"openstack/latest/user_data":                   "#cloud-config\nruncmd: [echo hi]\n",
				"cloudstack/metadata/local-hostname.txt":       "web1",
				"cloudstack/metadata/instance-id.txt":          "5b0f3b9c-5a43-4a3b-9d3e-0c1c8a7b6f01",
				"cloudstack/metadata/vm-id.txt":                "5b0f3b9c-5a43-4a3b-9d3e-0c1c8a7b6f01",
				"cloudstack/metadata/local-ipv4.txt":           "10.1.1.5",
				"cloudstack/metadata/public-ipv4.txt":          "10.1.1.5",
				"cloudstack/metadata/public-keys.txt":          "ssh-ed25519 AAAAC3Nza alice@laptop",
				"cloudstack/metadata/service-offering.txt":     "Small Instance",
				"cloudstack/metadata/availability-zone.txt":    "zone1",
				"cloudstack/metadata/hypervisor-host-name.txt": "kvm1",
				"cloudstack/password/vm_password.txt":          "s3cret",
				"openstack/latest/vendor_data.json":            "{}",
				"openstack/latest/meta_data.json":              "*",
				"openstack/latest/network_data.json":           "*",
			},
			meta: map[string]any{
				"hostname": "web1", "uuid": "5b0f3b9c-5a43-4a3b-9d3e-0c1c8a7b6f01", "availability_zone": "zone1",
				"hypervisor-host-name": "kvm1",
				"public_keys":          map[string]any{"key": "ssh-ed25519 AAAAC3Nza alice@laptop"},
				"keys":                 []any{map[string]any{"type": "ssh", "name": "key", "data": "ssh-ed25519 AAAAC3Nza alice@laptop"}},
			},
		},
		{
			name: "bare: no user data, keys, password or nics",
			spec: func(s *hypervisor.VMSpec) {
				s.UserData, s.SSHKeys, s.Nics, s.ConfigDrive, s.Hostname, s.UUID = "", nil, nil, nil, "", ""
			},
			files: map[string]string{
				"cloudstack/metadata/local-hostname.txt": "i-2-10-VM",
				"cloudstack/metadata/instance-id.txt":    "i-2-10-VM",
				"openstack/latest/network_data.json":     "{}",
			},
			absent: []string{"cloudstack/userdata/user_data.txt", "openstack/latest/user_data", "cloudstack/password/vm_password.txt",
				"cloudstack/metadata/public-keys.txt", "cloudstack/metadata/local-ipv4.txt"},
			meta: map[string]any{"hostname": "i-2-10-VM", "uuid": "i-2-10-VM"},
		},
		{
			name: "several keys, key name from a 4-field key",
			spec: func(s *hypervisor.VMSpec) {
				s.SSHKeys = []string{"ssh-rsa AAAAB3 bob extra", "ssh-ed25519 AAAAC3 carol"}
			},
			files: map[string]string{
				"cloudstack/metadata/public-keys.txt": "ssh-rsa AAAAB3 bob extra\nssh-ed25519 AAAAC3 carol",
			},
			meta: map[string]any{"public_keys": map[string]any{"bob": "ssh-rsa AAAAB3 bob extra\nssh-ed25519 AAAAC3 carol"}},
		},
		{
			name: "metadata overrides and empty values drop files",
			spec: func(s *hypervisor.VMSpec) {
				s.ConfigDrive.Metadata = map[string]string{"public-ipv4": "203.0.113.7", "local-ipv4": ""}
			},
			files:  map[string]string{"cloudstack/metadata/public-ipv4.txt": "203.0.113.7"},
			absent: []string{"cloudstack/metadata/local-ipv4.txt"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := cdSpec()
			if tc.spec != nil {
				tc.spec(&spec)
			}
			files, err := configDriveFiles(spec)
			if err != nil {
				t.Fatal(err)
			}
			for p, want := range tc.files {
				got, ok := files[p]
				switch {
				case !ok:
					t.Errorf("missing %s (have %v)", p, keys(files))
				case want != "*" && string(got) != want:
					t.Errorf("%s = %q, want %q", p, got, want)
				}
			}
			for _, p := range tc.absent {
				if _, ok := files[p]; ok {
					t.Errorf("unexpected %s", p)
				}
			}
			var meta map[string]any
			if err := json.Unmarshal(files["openstack/latest/meta_data.json"], &meta); err != nil {
				t.Fatalf("meta_data.json: %v", err)
			}
			for k, want := range tc.meta {
				if !reflect.DeepEqual(meta[k], want) {
					t.Errorf("meta_data.json %s = %#v, want %#v", k, meta[k], want)
				}
			}
		})
	}
}

func TestConfigDriveNetworkData(t *testing.T) {
	files, err := configDriveFiles(cdSpec())
	if err != nil {
		t.Fatal(err)
	}
	var nd struct {
		Links []struct {
			MAC string `json:"ethernet_mac_address"`
			ID  string `json:"id"`
		} `json:"links"`
		Networks []struct {
			ID, IP, Link, Netmask, NetworkID string
			Routes                           []map[string]string
		} `json:"networks"`
	}
	raw := files["openstack/latest/network_data.json"]
	if err := json.Unmarshal(raw, &nd); err != nil {
		t.Fatal(err)
	}
	if len(nd.Links) != 2 || nd.Links[0].ID != "eth0" || nd.Links[0].MAC != "02:00:4c:6e:00:01" || nd.Links[1].ID != "eth1" {
		t.Errorf("links = %+v (%s)", nd.Links, raw)
	}
	var full map[string][]map[string]any
	_ = json.Unmarshal(raw, &full)
	if n := full["networks"]; len(n) != 2 || n[0]["ip_address"] != "10.1.1.5" || n[0]["network_id"] != "net-a" || n[1]["routes"] != nil {
		t.Errorf("networks = %v", n)
	} else if r := n[0]["routes"].([]any); len(r) != 1 || r[0].(map[string]any)["gateway"] != "10.1.1.1" {
		t.Errorf("default route = %v", r)
	}
}

func TestConfigDriveRejectsBadInput(t *testing.T) {
	s := cdSpec()
	s.UserData = "not base64!"
	if _, err := configDriveFiles(s); err == nil || !strings.Contains(err.Error(), "base64") {
		t.Errorf("bad user data: err = %v", err)
	}
	s = cdSpec()
	s.ConfigDrive.Metadata["../escape"] = "x"
	if _, err := configDriveFiles(s); err == nil || !strings.Contains(err.Error(), "invalid metadata name") {
		t.Errorf("bad metadata name: err = %v", err)
	}
}

// TestBuildConfigDriveISO builds the ISO with genisoimage and reads it back with isoinfo: the
// volume label, the Rock Ridge names and a file's bytes.
func TestBuildConfigDriveISO(t *testing.T) {
	gen, err1 := exec.LookPath("genisoimage")
	isoinfo, err2 := exec.LookPath("isoinfo")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("genisoimage/isoinfo missing under CI (package genisoimage): %v %v", err1, err2)
		}
		t.Skip("genisoimage or isoinfo not installed (apt-get install genisoimage)")
	}
	iso := filepath.Join(t.TempDir(), "cd", "i-2-10-VM.iso")
	if err := buildConfigDrive(context.Background(), gen, iso, cdSpec()); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(isoinfo, "-d", "-i", iso).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Volume id: config-2") {
		t.Fatalf("isoinfo -d: %v\n%s", err, out)
	}
	out, err = exec.Command(isoinfo, "-R", "-f", "-i", iso).CombinedOutput()
	if err != nil {
		t.Fatalf("isoinfo -f: %v\n%s", err, out)
	}
	listed := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		listed[strings.TrimPrefix(l, "/")] = true
	}
	files, _ := configDriveFiles(cdSpec())
	for p := range files {
		if !listed[strings.TrimSuffix(p, "/")] {
			t.Errorf("%s not in the ISO; it lists %v", p, keys(listed))
		}
	}
	got, err := exec.Command(isoinfo, "-R", "-i", iso, "-x", "/cloudstack/metadata/local-hostname.txt").Output()
	if err != nil || string(got) != "web1" {
		t.Errorf("local-hostname.txt = %q, %v", got, err)
	}
	// A rebuild replaces the file in place (a restart after a password reset).
	s := cdSpec()
	s.ConfigDrive.Password = "n3w"
	if err := buildConfigDrive(context.Background(), gen, iso, s); err != nil {
		t.Fatal(err)
	}
	got, _ = exec.Command(isoinfo, "-R", "-i", iso, "-x", "/cloudstack/password/vm_password.txt").Output()
	if string(got) != "n3w" {
		t.Errorf("password after rebuild = %q", got)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(iso), ".configdrive-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
