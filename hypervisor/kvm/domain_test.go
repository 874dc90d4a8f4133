package kvm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/hypervisor"
)

func baseSpec() hypervisor.VMSpec {
	return hypervisor.VMSpec{
		Name: "i-2-10-VM", UUID: "5b0f3b9c-5a43-4a3b-9d3e-0c1c8a7b6f01", Hostname: "web1",
		CPUs: 2, SpeedMHz: 1000, MemoryBytes: 512 << 20,
		Disks: []hypervisor.DiskSpec{{VolumeID: "0d6c3c3e-6a52-4f19-9b0e-4bc0a1e8a2f1", Type: "ROOT", DeviceID: 0,
			Format: "QCOW2", Source: hypervisor.DiskSource{File: "/var/lib/atoll/pool/root.qcow2"}}},
	}
}

func baseOpts() domainOptions {
	return domainOptions{Type: "qemu", Machine: "pc", DiskCache: "none", ConsoleLog: "/var/log/atoll/console/i-2-10-VM.log"}
}

// TestBuildDomain checks the domain XML for each feature: the fragments that must appear and
// those that must not. Where virt-xml-validate is installed, every document is also checked
// against libvirt's schema.
func TestBuildDomain(t *testing.T) {
	validator, _ := exec.LookPath("virt-xml-validate")
	if validator == "" {
		t.Log("virt-xml-validate not installed: schema validation left out")
	}
	cases := []struct {
		name   string
		spec   func(*hypervisor.VMSpec)
		opts   func(*domainOptions)
		want   []string
		absent []string
	}{
		{
			name: "file disk",
			want: []string{
				`<domain type="qemu">`, `<name>i-2-10-VM</name>`, `<uuid>5b0f3b9c-5a43-4a3b-9d3e-0c1c8a7b6f01</uuid>`,
				`<memory unit="KiB">524288</memory>`, `<currentMemory unit="KiB">524288</currentMemory>`,
				`<vcpu placement="static">2</vcpu>`, `<type arch="x86_64" machine="pc">hvm</type>`,
				`<boot dev="hd"></boot>`,
				`<disk type="file" device="disk"><driver name="qemu" type="qcow2" cache="none"></driver><source file="/var/lib/atoll/pool/root.qcow2"></source><target dev="vda" bus="virtio"></target><serial>0d6c3c3e6a524f199b0e</serial></disk>`,
				`<serial type="pty"><target port="0"></target><log file="/var/log/atoll/console/i-2-10-VM.log" append="on"></log></serial>`,
				`<console type="pty"><target type="serial" port="0"></target></console>`,
				`<memballoon model="virtio"><stats period="10"></stats></memballoon>`,
				`<on_poweroff>destroy</on_poweroff>`, `<acpi></acpi>`,
			},
			absent: []string{`<interface`, `<iotune>`, `dev="hdd"`},
		},
		{
			name: "empty iso drive",
			want: []string{`<disk device="cdrom"><driver name="qemu" type="raw"></driver><target dev="hdc" bus="ide"></target><readonly></readonly></disk>`},
		},
		{
			name: "path as file when no source",
			spec: func(s *hypervisor.VMSpec) {
				s.Disks[0].Source = hypervisor.DiskSource{}
				s.Disks[0].Path = "/mnt/pool/abc"
				s.Disks[0].Format = "RAW"
			},
			want: []string{`<driver name="qemu" type="raw" cache="none"></driver><source file="/mnt/pool/abc"></source>`},
		},
		{
			name: "nfs disk",
			spec: func(s *hypervisor.VMSpec) {
				s.Disks[0].Source = hypervisor.DiskSource{NFSHost: "127.0.0.1", NFSPath: "/export/primary/root.qcow2"}
			},
			want:   []string{`<disk type="network" device="disk"><driver name="qemu" type="qcow2" cache="none"></driver><source protocol="nfs" name="/export/primary/root.qcow2"><host name="127.0.0.1"></host><identity user="root" group="root"></identity></source><target dev="vda" bus="virtio"></target>`},
			absent: []string{`source file=`},
		},
		{
			name: "data disks by device id",
			spec: func(s *hypervisor.VMSpec) {
				s.Disks = append(s.Disks,
					hypervisor.DiskSpec{VolumeID: "d4", DeviceID: 4, Source: hypervisor.DiskSource{File: "/p/d4.qcow2"}},
					hypervisor.DiskSpec{VolumeID: "d1", DeviceID: 1, Source: hypervisor.DiskSource{File: "/p/d1.qcow2"}})
			},
			want: []string{`<source file="/p/d1.qcow2"></source><target dev="vdb" bus="virtio">`, `<source file="/p/d4.qcow2"></source><target dev="vde" bus="virtio">`},
		},
		{
			name: "iotune",
			spec: func(s *hypervisor.VMSpec) {
				s.Disks[0].Limits = hypervisor.DiskLimits{ReadBytesSec: 10 << 20, WriteBytesSec: 5 << 20, ReadIOPS: 500, WriteIOPS: 250}
			},
			want:   []string{`<iotune><read_bytes_sec>10485760</read_bytes_sec><write_bytes_sec>5242880</write_bytes_sec><read_iops_sec>500</read_iops_sec><write_iops_sec>250</write_iops_sec></iotune>`},
			absent: []string{`total_bytes_sec`, `total_iops_sec`},
		},
		{
			name: "iotune totals",
			spec: func(s *hypervisor.VMSpec) {
				s.Disks[0].Limits = hypervisor.DiskLimits{TotalBytesSec: 100 << 20, TotalIOPS: 1000}
			},
			want: []string{`<iotune><total_bytes_sec>104857600</total_bytes_sec><total_iops_sec>1000</total_iops_sec></iotune>`},
		},
		{
			name: "config drive",
			opts: func(o *domainOptions) { o.ConfigDrive = "/var/lib/atoll/configdrive/i-2-10-VM.iso" },
			want: []string{`<disk type="file" device="cdrom"><driver name="qemu" type="raw"></driver><source file="/var/lib/atoll/configdrive/i-2-10-VM.iso"></source><target dev="hdd" bus="ide"></target><readonly></readonly></disk>`,
				`<boot dev="hd"></boot><boot dev="cdrom"></boot>`},
		},
		{
			name: "iso boot",
			spec: func(s *hypervisor.VMSpec) { s.BootISO = "/mnt/secondary/template/tmpl/1/201/debian.iso" },
			want: []string{`<boot dev="cdrom"></boot><boot dev="hd"></boot>`,
				`<source file="/mnt/secondary/template/tmpl/1/201/debian.iso"></source><target dev="hdc" bus="ide"></target><readonly></readonly>`},
		},
		{
			name: "iso boot over nfs",
			spec: func(s *hypervisor.VMSpec) {
				s.BootISO = "template/tmpl/2/201/debian.iso"
				s.BootISOSource = hypervisor.DiskSource{NFSHost: "127.0.0.1", NFSPath: "/export/secondary/template/tmpl/2/201/debian.iso"}
			},
			want: []string{`<boot dev="cdrom"></boot><boot dev="hd"></boot>`,
				`<disk type="network" device="cdrom"><driver name="qemu" type="raw"></driver><source protocol="nfs" name="/export/secondary/template/tmpl/2/201/debian.iso"><host name="127.0.0.1"></host><identity user="root" group="root"></identity></source><target dev="hdc" bus="ide"></target><readonly></readonly></disk>`},
		},
		{
			name: "bridge nics",
			spec: func(s *hypervisor.VMSpec) {
				s.Nics = []hypervisor.NicSpec{
					{MAC: "02:00:4C:6E:00:02", DeviceID: 1, Bridge: "brvx-501"},
					{MAC: "02:00:4c:6e:00:01", DeviceID: 0, Bridge: "brvx-500", IsDefault: true},
				}
			},
			want: []string{`<interface type="bridge"><mac address="02:00:4c:6e:00:01"></mac><source bridge="brvx-500"></source><target dev="at02004c6e0001"></target><model type="virtio"></model></interface><interface type="bridge"><mac address="02:00:4c:6e:00:02"></mac><source bridge="brvx-501"></source><target dev="at02004c6e0002"></target>`},
		},
		{
			name:   "no nic without bridge",
			spec:   func(s *hypervisor.VMSpec) { s.Nics = []hypervisor.NicSpec{{MAC: "02:00:4c:6e:00:01", IP: "10.1.1.5"}} },
			absent: []string{`<interface`},
		},
		{
			name: "domain type kvm",
			opts: func(o *domainOptions) { o.Type = "kvm" },
			want: []string{`<domain type="kvm">`},
		},
		{
			name: "shares cgroup v1",
			want: []string{`<cputune><shares>2000</shares></cputune>`},
		},
		{
			name: "shares cgroup v2 scaled to the host",
			opts: func(o *domainOptions) { o.CgroupV2, o.HostMHz = true, 8*2500 },
			want: []string{`<cputune><shares>1000</shares></cputune>`},
		},
		{
			name:   "no shares without speed",
			spec:   func(s *hypervisor.VMSpec) { s.SpeedMHz = 0 },
			absent: []string{`<cputune>`},
		},
		{
			name: "scalable maxima",
			spec: func(s *hypervisor.VMSpec) { s.MaxCPUs, s.MaxMemoryBytes = 4, 1<<30 },
			want: []string{`<vcpu placement="static" current="2">4</vcpu>`, `<memory unit="KiB">1048576</memory>`, `<currentMemory unit="KiB">524288</currentMemory>`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec, opts := baseSpec(), baseOpts()
			if tc.spec != nil {
				tc.spec(&spec)
			}
			if tc.opts != nil {
				tc.opts(&opts)
			}
			d, err := buildDomain(spec, opts)
			if err != nil {
				t.Fatalf("buildDomain: %v", err)
			}
			x, err := d.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			flat := flatten(x)
			for _, w := range tc.want {
				if !strings.Contains(flat, w) {
					t.Errorf("missing %s\nin %s", w, x)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(flat, a) {
					t.Errorf("unexpected %s\nin %s", a, x)
				}
			}
			if validator != "" {
				f := filepath.Join(t.TempDir(), "domain.xml")
				if err := os.WriteFile(f, []byte(x), 0o644); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command(validator, f, "domain").CombinedOutput(); err != nil {
					t.Errorf("libvirt schema rejects the domain: %v: %s\n%s", err, out, x)
				}
			}
		})
	}
}

// flatten drops the indentation MarshalIndent puts between elements.
func flatten(x string) string {
	var b strings.Builder
	for _, l := range strings.Split(x, "\n") {
		b.WriteString(strings.TrimSpace(l))
	}
	return b.String()
}

func TestBuildDomainRejects(t *testing.T) {
	cases := []struct {
		name string
		spec func(*hypervisor.VMSpec)
		opts func(*domainOptions)
		want string
	}{
		{"empty name", func(s *hypervisor.VMSpec) { s.Name = "" }, nil, "invalid vm name"},
		{"no cpus", func(s *hypervisor.VMSpec) { s.CPUs = 0 }, nil, "cpus 0"},
		{"no memory", func(s *hypervisor.VMSpec) { s.MemoryBytes = 0 }, nil, "memory 0"},
		{"bad mac", func(s *hypervisor.VMSpec) { s.Nics = []hypervisor.NicSpec{{MAC: "zz", Bridge: "br0"}} }, nil, `invalid mac "zz"`},
		{"no disk source", func(s *hypervisor.VMSpec) { s.Disks[0].Source = hypervisor.DiskSource{}; s.Disks[0].Path = "vol-1" }, nil, "no source"},
		{"relative file", func(s *hypervisor.VMSpec) { s.Disks[0].Source.File = "root.qcow2" }, nil, "not an absolute path"},
		{"nfs without host", func(s *hypervisor.VMSpec) {
			s.Disks[0].Source = hypervisor.DiskSource{NFSPath: "/export/x.qcow2"}
		}, nil, "nfs source needs a host"},
		{"device id twice", func(s *hypervisor.VMSpec) {
			s.Disks = append(s.Disks, hypervisor.DiskSpec{VolumeID: "x", DeviceID: 0, Source: hypervisor.DiskSource{File: "/x"}})
		}, nil, "used twice"},
		{"iso not a host file", func(s *hypervisor.VMSpec) { s.BootISO = "6b1e0f3a-iso-id" }, nil, "cd-rom: disk iso: no source"},
		{"bad type", nil, func(o *domainOptions) { o.Type = "xen" }, `domain type "xen"`},
		{"total and read bytes", func(s *hypervisor.VMSpec) {
			s.Disks[0].Limits = hypervisor.DiskLimits{TotalBytesSec: 1 << 20, ReadBytesSec: 1 << 20}
		}, nil, "total limit excludes"},
		{"total and write iops", func(s *hypervisor.VMSpec) {
			s.Disks[0].Limits = hypervisor.DiskLimits{TotalIOPS: 100, WriteIOPS: 50, ReadBytesSec: 1 << 20}
		}, nil, "total limit excludes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec, opts := baseSpec(), baseOpts()
			if tc.spec != nil {
				tc.spec(&spec)
			}
			if tc.opts != nil {
				tc.opts(&opts)
			}
			_, err := buildDomain(spec, opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCPUShares(t *testing.T) {
	cases := []struct {
		name     string
		cpus     int
		speed    int64
		hostMHz  int64
		cgroupV2 bool
		want     uint
	}{
		{"v1 cpus times speed", 2, 1000, 0, false, 2000},
		{"v1 clamped high", 128, 4000, 0, false, 262144},
		{"v1 clamped low", 1, 1, 0, false, 2},
		{"v2 scaled", 6, 2000, 4 * 2400 * 4, true, 3125},
		{"v2 rounds up", 1, 1, 100000, true, 2},
		{"v2 whole host", 8, 2500, 8 * 2500, true, 10000},
		{"v2 unknown host capacity clamps", 6, 2000, 0, true, 10000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := cpuShares(tc.cpus, tc.speed, tc.hostMHz, tc.cgroupV2); got != tc.want {
				t.Fatalf("cpuShares = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestDiskName(t *testing.T) {
	for i, want := range map[int]string{0: "vda", 1: "vdb", 3: "vdd", 25: "vdz", 26: "vdaa", 27: "vdab", 701: "vdzz", 702: "vdaaa"} {
		if got := diskName("vd", i); got != want {
			t.Errorf("diskName(%d) = %s, want %s", i, got, want)
		}
	}
}

func TestTapName(t *testing.T) {
	cases := map[string]string{
		"02:00:4C:6E:00:01": "at02004c6e0001",
		"1e:00:a1:00:00:ff": "at1e00a10000ff",
	}
	for mac, want := range cases {
		got := hypervisor.TapName(mac)
		if got != want || len(got) > 15 {
			t.Errorf("TapName(%s) = %s, want %s (at most 15 chars)", mac, got, want)
		}
	}
}

func TestChooseDomainType(t *testing.T) {
	cases := []struct {
		name                 string
		caps, dev, virt      bool
		want, reasonFragment string
	}{
		{"real host", true, true, true, "kvm", "vmx or svm"},
		{"nested pvm", true, true, false, "qemu", "neither vmx nor svm"},
		{"no device", true, false, true, "qemu", "/dev/kvm"},
		{"libvirt says no", false, true, true, "qemu", "capabilities"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, why := chooseDomainType(tc.caps, tc.dev, tc.virt)
			if got != tc.want || !strings.Contains(why, tc.reasonFragment) {
				t.Fatalf("chooseDomainType = %s (%s), want %s (…%s…)", got, why, tc.want, tc.reasonFragment)
			}
		})
	}
}

func TestCPUHasVirt(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]bool{
		"processor\t: 0\nflags\t\t: fpu vme de pse vmx ept\n":  true,
		"processor\t: 0\nflags\t\t: fpu svm npt\n":             true,
		"processor\t: 0\nflags\t\t: fpu hypervisor lm\n":       false,
		"processor\t: 0\nflags\t\t: fpu vmxfoo\nflags : vmx\n": false, // only the first flags line counts
		"processor\t: 0\nmodel name\t: vmx inside a name\n":    false,
	}
	i := 0
	for content, want := range cases {
		i++
		p := filepath.Join(dir, "cpuinfo")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := cpuHasVirt(p); got != want {
			t.Errorf("case %d: cpuHasVirt = %v, want %v for %q", i, got, want, content)
		}
	}
}

func TestCapsOfferKVM(t *testing.T) {
	with := `<capabilities><host><uuid>x</uuid></host><guest><os_type>hvm</os_type><arch name="x86_64"><domain type="qemu"/><domain type="kvm"/></arch></guest></capabilities>`
	without := `<capabilities><host><uuid>x</uuid></host><guest><os_type>hvm</os_type><arch name="x86_64"><domain type="qemu"/></arch></guest><guest><os_type>hvm</os_type><arch name="aarch64"><domain type="kvm"/></arch></guest></capabilities>`
	for doc, want := range map[string]bool{with: true, without: false} {
		got, err := capsOfferKVM(doc)
		if err != nil || got != want {
			t.Errorf("capsOfferKVM = %v, %v; want %v", got, err, want)
		}
	}
	if _, err := capsOfferKVM("<nope"); err == nil {
		t.Error("capsOfferKVM accepted broken XML")
	}
}
