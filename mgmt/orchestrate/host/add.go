package host

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"strings"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/agents"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/google/uuid"
)

// How long Add waits: for a simulated host to come Up (it answers anyway, Connecting, after
// that), and for the agent of a real host to register from the URL's address. Both stay under
// the 10 s a CloudStack client waits for an answer.
var (
	addSimWait   = 5 * time.Second
	addAgentWait = 8 * time.Second
)

// AddSpec is addHost's parameters as given: the zone, pod and cluster (by id, or by name), the
// URL, the hypervisor, the allocation state and the host tags (comma separated).
type AddSpec struct {
	ZoneID, PodID, ClusterID, ClusterName string
	URL, Hypervisor, AllocationState      string
	HostTags                              string
}

// HypervisorName returns the canonical spelling of a hypervisor hosts may run.
func HypervisorName(h string) (string, bool) {
	switch strings.ToLower(h) {
	case "kvm":
		return "KVM", true
	case "simulator":
		return "Simulator", true
	}
	return "", false
}

// AllocationState is the resource state a host is added in (Enabled unless told otherwise).
func AllocationState(v string) (string, error) {
	switch strings.ToLower(v) {
	case "", "enabled", "enable":
		return db.HostResourceEnabled, nil
	case "disabled", "disable":
		return db.HostResourceDisabled, nil
	}
	return "", orchestrate.ErrParam("Invalid allocation state %s: it must be Enabled or Disabled", v)
}

// Add adds a host: a simulated one (url http://sim/<cluster>/<host>), whose agent starts in
// this management server, or the one whose agent registered from the URL's address.
func Add(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, s AddSpec) (*db.Host, error) {
	m, err := Manager(d)
	if err != nil {
		return nil, err
	}
	hv, ok := HypervisorName(s.Hypervisor)
	if !ok {
		return nil, orchestrate.ErrParam("Hypervisor type %s is not supported: use KVM or Simulator", s.Hypervisor)
	}
	resState, err := AllocationState(s.AllocationState)
	if err != nil {
		return nil, err
	}
	rawURL := strings.TrimSpace(s.URL)
	if !strings.Contains(rawURL, "://") {
		rawURL = "http://" + rawURL
	}
	pu, err := url.Parse(rawURL)
	if err != nil || pu.Hostname() == "" {
		return nil, orchestrate.ErrParam("Invalid host url %s: want http://<address>", s.URL)
	}
	p, err := placement(ctx, d, s, hv)
	if err != nil {
		return nil, err
	}
	if path, sim := agents.SimulatorPath(rawURL); sim {
		if hv != "Simulator" {
			return nil, orchestrate.ErrParam("url %s names a simulated host: use hypervisor Simulator", rawURL)
		}
		return addSimulator(ctx, d, m, a, p, rawURL, path, resState, s.HostTags)
	}
	return bindAgent(ctx, d, a, p, hv, rawURL, pu.Hostname(), resState, s.HostTags)
}

// placement checks the zone, pod and cluster (by id or by name) of an added host.
func placement(ctx context.Context, d *orchestrate.Deps, s AddSpec, hypervisor string) (*db.Placement, error) {
	zoneID, podID := strings.ToLower(s.ZoneID), strings.ToLower(s.PodID)
	if _, err := db.ZonePod(ctx, d.DB.Read(), zoneID, ""); errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find zone by id %s", zoneID)
	} else if err != nil {
		return nil, err
	}
	if _, err := db.ZonePod(ctx, d.DB.Read(), zoneID, podID); errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find pod by id %s in zone %s", podID, zoneID)
	} else if err != nil {
		return nil, err
	}
	cluster := strings.ToLower(s.ClusterID)
	what := "id"
	if cluster == "" {
		cluster, what = s.ClusterName, "name"
	}
	if cluster == "" {
		return nil, orchestrate.ErrParam("clusterid or clustername is required to add a %s host", hypervisor)
	}
	p, err := db.ResolvePlacement(ctx, d.DB.Read(), zoneID, podID, cluster)
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find cluster by %s %s in pod %s", what, cluster, podID)
	}
	if err != nil {
		return nil, err // the database's: logged, and answered with CloudStack's generic words
	}
	if what == "id" && p.ClusterID != cluster {
		return nil, orchestrate.ErrParam("Unable to find cluster by id %s in pod %s", cluster, podID)
	}
	if !strings.EqualFold(p.ClusterHypervisor, hypervisor) {
		return nil, orchestrate.ErrParam("Can't add host whose hypervisor type is: %s into cluster: %s whose hypervisor type is: %s",
			hypervisor, p.ClusterName, p.ClusterHypervisor)
	}
	return p, nil
}

// fakeAddress gives a simulated host a stable address from TEST-NET-2 (198.51.100.0/24) and
// the 198.18.0.0/15 benchmarking range, derived from its guid.
func fakeAddress(guid string) string {
	f := fnv.New32a()
	f.Write([]byte(guid))
	n := f.Sum32()
	return fmt.Sprintf("198.%d.%d.%d", 18+(n>>16)&1, (n>>8)&0xff, 1+n%254)
}

func addSimulator(ctx context.Context, d *orchestrate.Deps, m Agents, a orchestrate.Actor, p *db.Placement, rawURL, path, resState, tags string) (*db.Host, error) {
	if len(path) > 180 {
		return nil, orchestrate.ErrParam("simulator url path %s is too long", path)
	}
	guid := agents.SimulatorGUID(p.ClusterID, path)
	name := path[strings.LastIndexByte(path, '/')+1:]
	if i := strings.IndexByte(name, '?'); i >= 0 {
		name = name[:i]
	}
	now := db.Now()
	h := &db.Host{ID: uuid.NewString(), Name: name, GUID: guid, Type: db.HostTypeRouting, ZoneID: p.ZoneID, PodID: p.PodID,
		ClusterID: p.ClusterID, HypervisorType: "Simulator", URL: rawURL, IPAddress: fakeAddress(guid),
		Status: db.HostStatusConnecting, ResourceState: resState, HostTags: tags, Owner: m.ServerID(), LastPing: now, Created: now}
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		if err := db.InsertHost(ctx, tx, h); err != nil {
			if db.IsDuplicate(err) {
				return orchestrate.ErrParam("A host with url %s already exists in cluster %s", rawURL, p.ClusterName)
			}
			return err
		}
		return orchestrate.Event(ctx, tx, a, "HOST.ADD", "Adding simulated host "+name, "Host", h.ID)
	})
	if err != nil {
		return nil, err
	}
	if err := m.StartSimulator(ctx, h.ID); err != nil {
		return nil, err
	}
	return wait(ctx, d, h.ID, addSimWait, func(h *db.Host) bool { return h.Status == db.HostStatusUp })
}

var errAlreadyBound = errors.New("host bound meanwhile")

// bindAgent adds the host whose agent registered from address (waiting a bounded time for
// it): the agent's unbound host gets its zone, pod and cluster and comes Up.
func bindAgent(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, p *db.Placement, hv, rawURL, address, resState, tags string) (*db.Host, error) {
	if bound, _, err := db.ListHosts(ctx, d.DB.Read(), db.HostFilter{Address: address}); err != nil {
		return nil, err
	} else if len(bound) > 0 {
		return nil, orchestrate.ErrParam("A host with address %s already exists (id %s)", address, bound[0].ID)
	}
	deadline := time.Now().Add(addAgentWait)
	for {
		cands, _, err := db.ListHosts(ctx, d.DB.Read(), db.HostFilter{Unbound: true, Address: address})
		if err != nil {
			return nil, err
		}
		for _, cand := range cands {
			if !strings.EqualFold(cand.HypervisorType, hv) {
				return nil, orchestrate.ErrParam("The agent at %s runs hypervisor %s, not %s", address, cand.HypervisorType, hv)
			}
			var out *db.Host
			err := d.DB.Transaction(ctx, func(tx db.Tx) error {
				h, err := db.GetHost(ctx, tx, cand.ID)
				if err != nil || !h.Unbound() {
					return errAlreadyBound
				}
				h.ZoneID, h.PodID, h.ClusterID, h.Type = p.ZoneID, p.PodID, p.ClusterID, db.HostTypeRouting
				h.URL, h.HostTags, h.ResourceState, h.Status = rawURL, tags, resState, db.HostStatusUp
				if err := db.UpdateHost(ctx, tx, h); err != nil {
					return err
				}
				if err := agents.SetHostCapacity(ctx, tx, h); err != nil {
					return err
				}
				out = h
				return orchestrate.Event(ctx, tx, a, "HOST.ADD", "Adding host "+h.Name+" at "+address, "Host", h.ID)
			})
			if errors.Is(err, errAlreadyBound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			return db.GetHost(ctx, d.DB.Read(), out.ID)
		}
		if time.Now().After(deadline) {
			return nil, orchestrate.ErrInternal("Cannot find the server resources at %s: no agent has registered from %s. Install and start `atoll agent` there (with a host token from createHostToken) and try again", rawURL, address)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
