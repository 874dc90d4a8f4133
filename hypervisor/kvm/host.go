package kvm

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	libvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"
)

// hostFacts are what the driver learns once about its host.
type hostFacts struct {
	domainType string // "kvm" or "qemu"
	reason     string // why auto chose it
	mhz        int64  // CPU capacity: logical CPUs × MHz
	cgroupV2   bool
}

// hostFacts resolves (once) the domain type and the host's CPU capacity. Failures are not
// cached: the next call tries again.
func (d *Driver) hostFacts(ctx context.Context) (*hostFacts, error) {
	d.hostMu.Lock()
	defer d.hostMu.Unlock()
	if d.host != nil {
		return d.host, nil
	}
	h := &hostFacts{cgroupV2: fileExists("/sys/fs/cgroup/cgroup.controllers")}
	var capsXML string
	err := d.conn.do(ctx, "host facts", func(l *libvirt.Libvirt) error {
		_, _, cpus, mhz, _, _, _, _, err := l.NodeGetInfo()
		if err != nil {
			return err
		}
		h.mhz = int64(cpus) * int64(mhz)
		if d.cfg.DomainType == "auto" {
			capsXML, err = l.ConnectGetCapabilities()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("host facts: %w", err)
	}
	switch d.cfg.DomainType {
	case "kvm", "qemu":
		h.domainType, h.reason = d.cfg.DomainType, "configured"
	default:
		capsKVM, err := capsOfferKVM(capsXML)
		if err != nil {
			return nil, fmt.Errorf("host facts: %w", err)
		}
		h.domainType, h.reason = chooseDomainType(capsKVM, devKVMOpens(), cpuHasVirt("/proc/cpuinfo"))
	}
	d.log.Info("domain type chosen", "type", h.domainType, "reason", h.reason, "host_mhz", h.mhz, "cgroup_v2", h.cgroupV2)
	d.host = h
	return h, nil
}

// chooseDomainType is the "auto" rule: kvm only when libvirt offers it, /dev/kvm opens and
// the CPU shows hardware virtualisation; otherwise TCG, with the reason.
func chooseDomainType(capsKVM, devOpens, cpuVirt bool) (typ, reason string) {
	switch {
	case !capsKVM:
		return "qemu", "libvirt's capabilities offer no kvm domain for x86_64"
	case !devOpens:
		return "qemu", "/dev/kvm does not open read-write"
	case !cpuVirt:
		return "qemu", "/proc/cpuinfo shows neither vmx nor svm (a nested or paravirtual /dev/kvm)"
	}
	return "kvm", "libvirt offers kvm, /dev/kvm opens and the CPU has vmx or svm"
}

// capsOfferKVM reports whether libvirt's host capabilities list a kvm domain for x86_64 hvm
// guests.
func capsOfferKVM(capsXML string) (bool, error) {
	var caps libvirtxml.Caps
	if err := caps.Unmarshal(capsXML); err != nil {
		return false, fmt.Errorf("parse capabilities: %w", err)
	}
	for _, g := range caps.Guests {
		if g.OSType != "hvm" || g.Arch.Name != "x86_64" {
			continue
		}
		for _, dom := range g.Arch.Domains {
			if dom.Type == "kvm" {
				return true, nil
			}
		}
	}
	return false, nil
}

func devKVMOpens() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// cpuHasVirt reports whether a cpuinfo file's flags include vmx (Intel VT-x) or svm (AMD-V).
func cpuHasVirt(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(k) != "flags" {
			continue
		}
		for _, fl := range strings.Fields(v) {
			if fl == "vmx" || fl == "svm" {
				return true
			}
		}
		return false
	}
	return false
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
