package allinone

import (
	"fmt"
	"strings"
)

// Summary is what `atoll up` prints about the host: the zone, its storage, the template and
// how to deploy a VM of it.
func (h *Host) Summary(apiAddr, key, secret string) string {
	var b strings.Builder
	lv := h.LibvirtSocket + " (the system libvirtd)"
	if h.PrivateLibvirt {
		lv = h.LibvirtSocket + " (a private libvirtd and virtlogd started by up; stopped with it)"
	}
	offering := h.OfferingID
	if offering == "" {
		offering = "<id from listServiceOfferings>"
	}
	fmt.Fprintf(&b, "\nZone %q is ready: this machine is its KVM host %q.\n", Zone, h.HostName)
	fmt.Fprintf(&b, "  libvirt      : %s\n", lv)
	fmt.Fprintf(&b, "  Primary      : %s\n", h.PrimaryURL)
	fmt.Fprintf(&b, "  Secondary    : %s (nfs-ganesha on loopback)\n", h.SecondaryURL)
	fmt.Fprintf(&b, "  Template     : %s (id %s), a busybox guest that prints ATOLL-TINY-* markers on its console\n", TemplateName, h.TemplateID)
	fmt.Fprintf(&b, "  Console logs : %s/<instance name>.log\n", h.ConsoleDir)
	fmt.Fprintf(&b, "  Deploy       : CLOUDSTACK_ENDPOINT=http://%s/client/api CLOUDSTACK_KEY=%s CLOUDSTACK_SECRET=%s atoll api deployVirtualMachine zoneid=%s templateid=%s serviceofferingid=%s name=vm-1\n",
		apiAddr, key, secret, h.ZoneID, h.TemplateID, offering)
	return b.String()
}
