package metadata

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// VMData is what one VM is served.
type VMData struct {
	// UserData is served raw at /latest/user-data (decoded: the VR base64-decodes it).
	UserData []byte
	// Meta maps CloudStack's meta-data names (service-offering, availability-zone,
	// local-ipv4, local-hostname, public-ipv4, public-hostname, instance-id, vm-id,
	// cloud-identifier, hypervisor-host-name, and user-data detail keys) to values. An empty
	// value is not served, as the VR deletes the file of an empty value.
	Meta map[string]string
	// PublicKeys are served one a line at meta-data/public-keys.
	PublicKeys []string
	// Password is a new password for the VM to fetch once from the password server. A
	// password is armed when Set brings a value different from the one before; the VM's
	// saved_password acknowledgement clears it, and Set repeating the same value does not
	// arm it again.
	Password string
}

// cloudStackOrder is the order in which the VR's meta-data index lists its files (the order
// of CloudStack's VmDataCommand).
var cloudStackOrder = []string{
	"service-offering", "availability-zone", "local-ipv4", "local-hostname", "public-ipv4", "public-hostname",
	"instance-id", "vm-id", "public-keys", "cloud-identifier", "hypervisor-host-name",
}

var keyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// vm is VMData prepared for serving: names lowercased (the VR's rewrite rules match without
// case), empty values dropped, the index rendered.
type vm struct {
	userData []byte
	meta     map[string]string
	index    string
}

func prepare(ip netip.Addr, d VMData) (*vm, error) {
	v := &vm{userData: d.UserData, meta: map[string]string{}}
	for k, val := range d.Meta {
		if !keyRE.MatchString(k) {
			return nil, fmt.Errorf("metadata: VM %v: bad meta-data name %q", ip, k)
		}
		lk := strings.ToLower(k)
		if lk == "user-data" || lk == "userdata" || lk == "meta-data" || lk == "metadata" {
			return nil, fmt.Errorf("metadata: VM %v: meta-data name %q is reserved", ip, k)
		}
		if val != "" {
			v.meta[lk] = val
		}
	}
	if len(d.PublicKeys) > 0 {
		var keys []string
		for _, k := range d.PublicKeys {
			if k = strings.TrimSpace(k); k != "" {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			v.meta["public-keys"] = strings.Join(keys, "\n")
		}
	}
	var b strings.Builder
	listed := map[string]bool{}
	for _, k := range cloudStackOrder {
		if _, ok := v.meta[k]; ok {
			b.WriteString(k + "\n")
			listed[k] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(v.meta)) {
		if !listed[k] {
			b.WriteString(k + "\n")
		}
	}
	v.index = b.String()
	return v, nil
}
