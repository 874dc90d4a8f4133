package network

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// Isolation methods of a physical network.
const (
	IsoVLAN  = "VLAN"
	IsoVXLAN = "VXLAN"
)

// VnetRange is an inclusive range of VLAN ids or VXLAN VNIs.
type VnetRange struct{ Lo, Hi int64 }

// VnetBounds are the ids an isolation method allows (CloudStack's MIN/MAX_VLAN_ID and _VXLAN_VNI).
func VnetBounds(iso string) (int64, int64) {
	if iso == IsoVXLAN {
		return 1, 16777214
	}
	return 1, 4094
}

// IsolationOf is a physical network's isolation method (VLAN when none was given).
func IsolationOf(pn *db.PhysicalNetwork) string {
	if pn.IsolationMethods == "" {
		return IsoVLAN
	}
	return strings.Split(pn.IsolationMethods, ",")[0]
}

// ParseVnetRanges parses "500-1000,2000-2100" (a lone id n means n-n) within the bounds of the
// isolation method, sorted and with touching ranges merged.
func ParseVnetRanges(param, s, iso string) ([]VnetRange, error) {
	lo, hi := VnetBounds(iso)
	var out []VnetRange
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		a, b, isRange := strings.Cut(part, "-")
		if !isRange {
			b = a
		}
		x, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
		y, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
		if err1 != nil || err2 != nil {
			return nil, orchestrate.ErrParam("Please provide a valid %s: %q is not a range; give a comma separated list of ranges like 2001-2012,3000-3005", param, part)
		}
		if x < lo || y > hi || x > y {
			return nil, orchestrate.ErrParam("Please provide a valid %s: range %s has to be between %d and %d (%s) and its start must not be above its end", param, part, lo, hi, iso)
		}
		out = append(out, VnetRange{x, y})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Lo < out[j].Lo })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && r.Lo <= merged[n-1].Hi+1 {
			merged[n-1].Hi = max(merged[n-1].Hi, r.Hi)
			continue
		}
		merged = append(merged, r)
	}
	return merged, nil
}

// FormatVnetRanges renders ranges as CloudStack does: "500-1000,2000-2000".
func FormatVnetRanges(rs []VnetRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%d-%d", r.Lo, r.Hi)
	}
	return strings.Join(parts, ",")
}

// VnetCount is the number of ids in rs.
func VnetCount(rs []VnetRange) int64 {
	var n int64
	for _, r := range rs {
		n += r.Hi - r.Lo + 1
	}
	return n
}

// VnetContains reports whether v is in one of rs.
func VnetContains(rs []VnetRange, v int64) bool {
	for _, r := range rs {
		if v >= r.Lo && v <= r.Hi {
			return true
		}
	}
	return false
}
