package bridge

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/hypervisor"
)

// Prefix begins the name of every bridge this package manages; Remove and List touch nothing
// else. Tap devices ("at" and twelve hex digits) never contain '-', so the two cannot clash.
const Prefix = "atbr-"

// maxNameLen is the longest interface name Linux accepts (IFNAMSIZ less the terminating NUL).
const maxNameLen = 15

// netIDChars is how many hex characters of a network id name an untagged network's bridge:
// "atbr-n" and nine hex characters fill the 15 that Linux allows.
const netIDChars = maxNameLen - len(Prefix) - 1

// Kind is how a guest network is isolated from others on the wire.
type Kind int

const (
	Untagged Kind = iota // no broadcast id: an empty URI or vlan://untagged
	VLAN                 // an 802.1Q tag: vlan://N
	VXLAN                // a VXLAN network identifier: vxlan://N
)

func (k Kind) String() string {
	switch k {
	case VLAN:
		return "vlan"
	case VXLAN:
		return "vxlan"
	default:
		return "untagged"
	}
}

// Broadcast is a parsed CloudStack broadcast URI.
type Broadcast struct {
	Kind Kind
	ID   int // VLAN id (1-4094) or VNI (1-16777215); 0 when Untagged
}

// ErrBadBroadcast is wrapped by ParseBroadcast for a URI it cannot carry.
var ErrBadBroadcast = errors.New("unsupported broadcast uri")

// ParseBroadcast reads CloudStack's broadcast URIs: "" and "vlan://untagged" (also
// "vlan://-1", which older CloudStack writes), "vlan://N" and "vxlan://N". Any other scheme
// (pvlan, lswitch, ...) is an error wrapping ErrBadBroadcast.
func ParseBroadcast(uri string) (Broadcast, error) {
	if uri == "" {
		return Broadcast{Kind: Untagged}, nil
	}
	scheme, rest, ok := strings.Cut(strings.ToLower(uri), "://")
	if !ok {
		return Broadcast{}, fmt.Errorf("%w: %q", ErrBadBroadcast, uri)
	}
	switch scheme {
	case "vlan":
		if rest == "untagged" || rest == "-1" {
			return Broadcast{Kind: Untagged}, nil
		}
		id, err := parseID(rest, 4094)
		if err != nil {
			return Broadcast{}, fmt.Errorf("%w: %q: vlan id %w", ErrBadBroadcast, uri, err)
		}
		return Broadcast{Kind: VLAN, ID: id}, nil
	case "vxlan":
		id, err := parseID(rest, 1<<24-1)
		if err != nil {
			return Broadcast{}, fmt.Errorf("%w: %q: vni %w", ErrBadBroadcast, uri, err)
		}
		return Broadcast{Kind: VXLAN, ID: id}, nil
	}
	return Broadcast{}, fmt.Errorf("%w: %q: scheme %s", ErrBadBroadcast, uri, scheme)
}

// parseID reads a decimal id in 1..max; leading zeros are allowed ("vlan://0100" is 100).
func parseID(s string, max int) (int, error) {
	if s == "" || len(s) > 10 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, err
	}
	if n < 1 || n > max {
		return 0, fmt.Errorf("%d is outside 1-%d", n, max)
	}
	return n, nil
}

// BridgeName is the bridge of the NIC's guest network on any host: see NameFor.
func BridgeName(spec hypervisor.NicSpec) (string, error) {
	return NameFor(spec.BroadcastURI, spec.NetworkID)
}

// NameFor names the bridge of a guest network, deterministically and within Linux's 15
// characters: "atbr-v<vlan>" and "atbr-x<vni>" when the network has a broadcast id, else
// "atbr-n" and the first nine hex characters of its network id (lowercased; a UUID's dashes
// are skipped). Two networks share a bridge only if they share a VLAN or VNI, which on one
// host means they share the wire anyway.
func NameFor(broadcastURI, networkID string) (string, error) {
	b, err := ParseBroadcast(broadcastURI)
	if err != nil {
		return "", err
	}
	switch b.Kind {
	case VLAN:
		return Prefix + "v" + strconv.Itoa(b.ID), nil
	case VXLAN:
		return Prefix + "x" + strconv.Itoa(b.ID), nil
	}
	hex := make([]byte, 0, netIDChars)
	for i := 0; i < len(networkID) && len(hex) < netIDChars; i++ {
		switch c := networkID[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			hex = append(hex, c)
		case c >= 'A' && c <= 'F':
			hex = append(hex, c+'a'-'A')
		}
	}
	if len(hex) == 0 {
		return "", fmt.Errorf("untagged network %q: no hex characters to name its bridge", networkID)
	}
	return Prefix + "n" + string(hex), nil
}

// checkIfName reports whether Linux would accept name as an interface name (the kernel's
// dev_valid_name): 1-15 bytes, not "." or "..", no '/', ':' or white space.
func checkIfName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("interface name %q: want 1-%d characters", name, maxNameLen)
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n\v\f\r") {
		return fmt.Errorf("interface name %q is not valid", name)
	}
	return nil
}

// checkBridgeName accepts the names this package manages: valid interface names with Prefix.
func checkBridgeName(name string) error {
	if err := checkIfName(name); err != nil {
		return err
	}
	if !strings.HasPrefix(name, Prefix) || len(name) == len(Prefix) {
		return fmt.Errorf("%w: %q does not start with %s", ErrNotManaged, name, Prefix)
	}
	return nil
}
