package vm

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// What a VM is made of, checked against what its owner may use: offerings, templates, key
// pairs, affinity groups, host names and user data.

// UserDataMax is CloudStack's vm.userdata.max.length default: the most bytes of decoded user
// data a VM may carry.
const UserDataMax = 32768

// hostnameRE is CloudStack's host name rule (RFC 1123 labels, not starting with a digit).
var hostnameRE = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

// CheckHostname refuses a name that is not a valid host name.
func CheckHostname(name string) error {
	if !hostnameRE.MatchString(name) {
		return orchestrate.ErrParam("Invalid name. Vm name can contain ASCII letters 'a' through 'z', the digits '0' through '9', and the hyphen ('-'), " +
			"must be between 1 and 63 characters long, and can't start or end with \"-\" and can't start with digit")
	}
	return nil
}

// CheckUserData validates base64 user data within the size limit.
func CheckUserData(s string) error {
	if s == "" {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return orchestrate.ErrParam("User data is not base64 encoded")
		}
	}
	if len(b) > UserDataMax {
		return orchestrate.ErrParam("User data is too long: %d bytes decoded, the limit is %d", len(b), UserDataMax)
	}
	return nil
}

// RandomPassword is what a password-enabled template's VM gets.
func RandomPassword() string {
	const chars = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	out := make([]byte, 12)
	for i := range out {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
		out[i] = chars[n.Int64()]
	}
	return string(out)
}

// ComputeOf resolves a VM's CPU number, speed (MHz) and memory (MiB) from an offering and, for
// a custom offering, the details map (cpuNumber, cpuSpeed, memory) within its limits.
func ComputeOf(so *db.ServiceOffering, details map[string]string) (int, int64, int64, error) {
	if !so.Customized {
		return so.CPUNumber, so.CPUSpeed, so.Memory, nil
	}
	num := func(k string, fallback int64) (int64, error) {
		for dk, v := range details {
			if strings.EqualFold(dk, k) {
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err != nil || n <= 0 {
					return 0, orchestrate.ErrParam("Invalid %s value %q in details: a positive integer is required", k, v)
				}
				return n, nil
			}
		}
		return fallback, nil
	}
	cpu, err := num("cpuNumber", int64(so.CPUNumber))
	if err != nil {
		return 0, 0, 0, err
	}
	speed, err := num("cpuSpeed", so.CPUSpeed)
	if err != nil {
		return 0, 0, 0, err
	}
	mem, err := num("memory", so.Memory)
	if err != nil {
		return 0, 0, 0, err
	}
	if cpu <= 0 || speed <= 0 || mem <= 0 {
		return 0, 0, 0, orchestrate.ErrParam("Need to specify custom parameter values cpu, cpu speed and memory when using custom offering")
	}
	bound := func(k string, v int64, lower bool) error {
		s, ok := so.Details[k]
		if !ok {
			return nil
		}
		b, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil
		}
		if lower && v < b || !lower && v > b {
			return orchestrate.ErrParam("Invalid %s value %d: the offering allows %s %d", strings.TrimPrefix(strings.TrimPrefix(k, "min"), "max"), v, k, b)
		}
		return nil
	}
	for _, chk := range []error{bound("mincpunumber", cpu, true), bound("maxcpunumber", cpu, false), bound("minmemory", mem, true), bound("maxmemory", mem, false)} {
		if chk != nil {
			return 0, 0, 0, chk
		}
	}
	return int(cpu), speed, mem, nil
}

// OfferingOf loads an active, non-system service offering usable in the owner's domain and
// zone; so is the offering read already (nil: read it now by id).
func OfferingOf(ctx context.Context, q db.Querier, so *db.ServiceOffering, id string, owner *db.Account, zoneID string) (*db.ServiceOffering, error) {
	var err error
	if so == nil {
		so, err = db.GetServiceOffering(ctx, q, strings.ToLower(id))
	}
	if errors.Is(err, db.ErrNotFound) || err == nil && so.IsSystem {
		return nil, orchestrate.ErrParam("Unable to find service offering: %s", id)
	}
	if err != nil {
		return nil, err
	}
	if so.State != "" && !strings.EqualFold(so.State, "Active") {
		return nil, orchestrate.ErrParam("Service offering %s is not active", so.Name)
	}
	if len(so.DomainIDs) > 0 && owner != nil {
		paths, err := db.DomainPaths(ctx, q, so.DomainIDs)
		if err != nil {
			return nil, err
		}
		if !db.OfferingVisibleTo(so.DomainIDs, paths, owner.DomainPath) {
			return nil, orchestrate.ErrDenied("Service offering %s is not available to account %s", so.ID, owner.Name)
		}
	}
	if len(so.ZoneIDs) > 0 && zoneID != "" && !slices.Contains(so.ZoneIDs, zoneID) {
		return nil, orchestrate.ErrParam("Service offering %s is not available in zone %s", so.Name, zoneID)
	}
	return so, nil
}

// TemplateOf loads a template or ISO the owner may use, ready in the zone; t is the template
// read already with whether it is ready in the zone (nil: read it now by id).
func TemplateOf(ctx context.Context, q db.Querier, caller *iam.Caller, t *db.Template, ready bool, id string, owner *db.Account, zoneID string) (*db.Template, error) {
	var err error
	if t == nil || !ready && t.ID == db.SimulatorTemplateID {
		t, ready, err = db.GetTemplateInZone(ctx, q, strings.ToLower(id), zoneID)
	}
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to use template %s: it does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	if !t.IsPublic && t.AccountID != owner.ID && !caller.IsRootAdmin() {
		perms, err := db.TemplatePermissions(ctx, q, t.ID)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(perms, owner.ID) {
			return nil, orchestrate.ErrDenied("Account %s does not have permission to use template %s", owner.Name, t.ID)
		}
	}
	if !ready {
		return nil, orchestrate.ErrParam("Template %s has not been completely downloaded to zone %s", t.Name, zoneID)
	}
	return t, nil
}

// KeyPairs resolves the keypair and keypairs names of the owner.
func KeyPairs(ctx context.Context, q db.Querier, owner *db.Account, keypair string, keypairs []string) ([]string, error) {
	names := keypairs
	if k := strings.TrimSpace(keypair); k != "" && !slices.Contains(names, k) {
		names = append([]string{k}, names...)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		k, err := db.GetSSHKeyPair(ctx, q, owner.ID, n)
		if errors.Is(err, db.ErrNotFound) {
			return nil, orchestrate.ErrParam("A key pair with name '%s' was not found for account %s", n, owner.Name)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, k.Name)
	}
	return out, nil
}

// AffinityGroups resolves affinity group ids or names of the owner.
func AffinityGroups(ctx context.Context, q db.Querier, owner *db.Account, ids, names []string) ([]*db.AffinityGroup, error) {
	if len(ids) > 0 && len(names) > 0 {
		return nil, orchestrate.ErrParam("affinitygroupids parameter is mutually exclusive with affinitygroupnames parameter")
	}
	var out []*db.AffinityGroup
	for _, id := range ids {
		g, err := db.GetAffinityGroup(ctx, q, strings.ToLower(id))
		if errors.Is(err, db.ErrNotFound) || err == nil && g.AccountID != owner.ID {
			return nil, orchestrate.ErrParam("Unable to find affinity group by id %s", id)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	for _, n := range names {
		g, err := db.GetAffinityGroupByName(ctx, q, owner.ID, n)
		if errors.Is(err, db.ErrNotFound) {
			return nil, orchestrate.ErrParam("Unable to find affinity group by name %s", n)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// AffinityRule turns a VM's groups into the planner's Avoid and Require sets.
func AffinityRule(ctx context.Context, q db.Querier, groups []*db.AffinityGroup, vmID string) (avoid, require map[string]bool, err error) {
	if len(groups) == 0 {
		return nil, nil, nil
	}
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.ID
	}
	hosts, err := db.AffinityGroupHosts(ctx, q, ids, vmID)
	if err != nil {
		return nil, nil, err
	}
	avoid, require = map[string]bool{}, map[string]bool{}
	for _, g := range groups {
		for _, h := range hosts[g.ID] {
			if g.Type == db.AffinityHost {
				require[h] = true
			} else {
				avoid[h] = true
			}
		}
	}
	return avoid, require, nil
}
