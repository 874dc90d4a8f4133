package api

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/host"
	"github.com/google/uuid"
)

// Event types for storage. ENABLE.PS, DISABLE.PS, MAINT.PREPARE.PS and MAINT.CANCEL.PS are
// CloudStack's; CloudStack records nothing when a pool or image store is created, updated or
// deleted, so Atoll uses the STORAGE.POOL.* and IMAGE.STORE.* names below.
const (
	evPoolCreate       = "STORAGE.POOL.CREATE"
	evPoolUpdate       = "STORAGE.POOL.UPDATE"
	evPoolDelete       = "STORAGE.POOL.DELETE"
	evPoolEnable       = "ENABLE.PS"
	evPoolDisable      = "DISABLE.PS"
	evPoolMaintPrepare = "MAINT.PREPARE.PS"
	evPoolMaintCancel  = "MAINT.CANCEL.PS"
	evImageStoreCreate = "IMAGE.STORE.CREATE"
	evImageStoreDelete = "IMAGE.STORE.DELETE"
	defaultPrimary     = "DefaultPrimary"
	defaultImage       = "NFS"
	simulatedPoolBytes = 10 << 40 // 10 TiB: the size of a Simulator pool created without capacitybytes
	poolResourceType   = "StoragePool"
	imageStoreResType  = "ImageStore"
	nfsDefaultPort     = 2049
	cephMonitorDefault = 6789
)

func registerStorage(s *Server) {
	s.Reg.Add(&Command{Name: "createStoragePool", Response: storagePoolResponse, Roles: Admin, ResponseKey: "storagepool",
		Description: "Creates a storage pool.",
		Params: []Param{
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "the name for the storage pool"},
			{Name: "url", Type: TString, Required: true, Length: 1024, Description: "the URL of the storage pool: nfs://host/path, sharedmountpoint:///path, filesystem:///path or rbd://[user:secret@]monitor[:port]/pool"},
			{Name: "zoneid", Type: TUUID, Required: true, Description: "the Zone ID for the storage pool"},
			{Name: "podid", Type: TUUID, Description: "the Pod ID for the storage pool"},
			{Name: "clusterid", Type: TUUID, Description: "the cluster ID for the storage pool"},
			{Name: "scope", Type: TString, Description: "the scope of the storage: cluster or zone (default cluster with a clusterid, else zone)"},
			{Name: "hypervisor", Type: TString, Description: "hypervisor type of the hosts in zone that will be attached to this storage pool. KVM, VMware supported as of now."},
			{Name: "tags", Type: TList, Description: "the tags for the storage pool"},
			{Name: "capacitybytes", Type: TLong, Description: "bytes CloudStack can provision from this storage pool"},
			{Name: "capacityiops", Type: TLong, Description: "IOPS CloudStack can provision from this storage pool"},
			{Name: "provider", Type: TString, Description: "the storage provider name (DefaultPrimary)"},
			{Name: "managed", Type: TBool, Description: "whether the storage should be managed by CloudStack (not supported)"},
			{Name: "details", Type: TMap, Length: 5120, Description: "the details for the storage pool"},
			{Name: "istagarule", Type: TBool, Description: "Whether the informed tag is a JS interpretable rule or not (not supported)"},
			{Name: "storageaccessgroups", Type: TList, Description: "comma separated list of storage access groups (not supported)"},
		},
		Handler: createStoragePool})
	s.Reg.Add(&Command{Name: "updateStoragePool", Response: storagePoolResponse, Roles: Admin, ResponseKey: "storagepool",
		Description: "Updates a storage pool.",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the Id of the storage pool"},
			{Name: "name", Type: TString, Length: 255, Description: "Change the name of the storage pool"},
			{Name: "tags", Type: TList, Description: "comma-separated list of tags for the storage pool"},
			{Name: "capacitybytes", Type: TLong, Description: "bytes CloudStack can provision from this storage pool"},
			{Name: "capacityiops", Type: TLong, Description: "IOPS CloudStack can provision from this storage pool"},
			{Name: "enabled", Type: TBool, Description: "false to disable the pool for allocation of new volumes, true to enable it back"},
			{Name: "url", Type: TString, Description: "the URL of the storage pool (cannot be changed)"},
			{Name: "details", Type: TMap, Length: 5120, Description: "the details for the storage pool"},
			{Name: "istagarule", Type: TBool, Description: "Whether the informed tag is a JS interpretable rule or not (not supported)"},
		},
		Handler: updateStoragePool})
	s.Reg.Add(&Command{Name: "deleteStoragePool", Response: successResponse, Roles: Admin,
		Description: "Deletes a storage pool.",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "Storage pool id"},
			{Name: "forced", Type: TBool, Description: "Force destroy storage pool (force expunge volumes in Destroyed state as a part of pool removal)"},
		},
		Handler: deleteStoragePool})
	s.Reg.Add(&Command{Name: "enableStorageMaintenance", Response: storagePoolResponse, Roles: Admin, Async: true, ResponseKey: "storagepool",
		Description: "Puts storage pool into maintenance state",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "Primary storage ID"}},
		Handler:     enableStorageMaintenance, Job: enableStorageMaintenanceJob})
	s.Reg.Add(&Command{Name: "cancelStorageMaintenance", Response: storagePoolResponse, Roles: Admin, Async: true, ResponseKey: "storagepool",
		Description: "Cancels maintenance for primary storage",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "the primary storage ID"}},
		Handler:     cancelStorageMaintenance, Job: cancelStorageMaintenanceJob})
	s.Reg.Add(&Command{Name: "listStoragePools", Response: storagePoolResponse, Roles: Admin, List: true, ResponseKey: "storagepool",
		Description: "Lists storage pools.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "the ID of the storage pool"},
			{Name: "name", Type: TString, Description: "the name of the storage pool"},
			{Name: "zoneid", Type: TUUID, Description: "the Zone ID for the storage pool"},
			{Name: "podid", Type: TUUID, Description: "the Pod ID for the storage pool"},
			{Name: "clusterid", Type: TUUID, Description: "list storage pools belongig to the specific cluster"},
			{Name: "hostid", Type: TUUID, Description: "host ID of the storage pools"},
			{Name: "ipaddress", Type: TString, Description: "the IP address for the storage pool"},
			{Name: "path", Type: TString, Description: "the storage pool path"},
			{Name: "scope", Type: TString, Description: "the scope of the storage pool"},
			{Name: "status", Type: TString, Description: "the status of the storage pool"},
			{Name: "storageaccessgroup", Type: TString, Description: "the name of the storage access group (not supported: lists nothing)"},
			{Name: "storagecustomstats", Type: TBool, Description: "If true, lists the custom stats of the storage pool"},
		},
		Handler: listStoragePools})
	s.Reg.Add(&Command{Name: "listStorageProviders", Response: storageProviderResponse, Roles: Admin, List: true, ResponseKey: "dataStoreProvider",
		Description: "Lists storage providers.",
		Params:      []Param{{Name: "type", Type: TString, Required: true, Description: "the type of storage provider: either primary or image"}},
		Handler:     listStorageProviders})
	s.Reg.Add(&Command{Name: "addImageStore", Response: imageStoreResponse, Roles: Admin, ResponseKey: "imagestore",
		Description: "Adds backup image store.",
		Params: []Param{
			{Name: "provider", Type: TString, Required: true, Description: "the image store provider name (NFS)"},
			{Name: "name", Type: TString, Length: 255, Description: "the name for the image store"},
			{Name: "url", Type: TString, Length: 1024, Description: "the URL for the image store: nfs://host/path"},
			{Name: "zoneid", Type: TUUID, Description: "the Zone ID for the image store"},
			{Name: "details", Type: TMap, Length: 5120, Description: "the details for the image store. Example: details[0].key=accesskey&details[0].value=s389ddssaa"},
		},
		Handler: addImageStore})
	s.Reg.Add(&Command{Name: "deleteImageStore", Response: successResponse, Roles: Admin,
		Description: "Deletes an image store or Secondary Storage.",
		Params:      []Param{{Name: "id", Type: TUUID, Required: true, Description: "The image store ID or Secondary Storage ID."}},
		Handler:     deleteImageStore})
	s.Reg.Add(&Command{Name: "listImageStores", Response: imageStoreResponse, Roles: Admin, List: true, ResponseKey: "imagestore",
		Description: "Lists image stores.",
		Params: []Param{
			{Name: "id", Type: TUUID, Description: "the ID of the storage pool"},
			{Name: "name", Type: TString, Description: "the name of the image store"},
			{Name: "zoneid", Type: TUUID, Description: "the Zone ID for the image store"},
			{Name: "provider", Type: TString, Description: "the image store provider"},
			{Name: "protocol", Type: TString, Description: "the image store protocol"},
			{Name: "readonly", Type: TBool, Description: "read-only status of the image store"},
		},
		Handler: listImageStores})
}

// poolLocation is where a pool's URL says its storage is.
type poolLocation struct {
	Type, Host, Path, URL string
	Port                  int
}

// parsePoolURL understands the URL forms of CloudStack's default primary storage provider
// that Atoll's agents can use. Nothing is contacted: a Simulator pool works with any address,
// and for KVM the agents mount the pool when they connect. An rbd:// secret is stored
// encrypted with the server keyring, in the URL's password.
func (c *Call) parsePoolURL(raw string) (poolLocation, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return poolLocation{}, ErrParam("%s is not a valid uri", raw)
	}
	loc := poolLocation{Host: u.Hostname(), Path: u.Path, URL: raw}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return poolLocation{}, ErrParam("%s is not a valid uri: bad port %s", raw, p)
		}
		loc.Port = n
	}
	switch strings.ToLower(u.Scheme) {
	case "nfs":
		if loc.Host == "" || loc.Path == "" || loc.Path == "/" {
			return poolLocation{}, ErrParam("Your host and/or path is wrong.  Make sure it's of the format nfs://hostname/path")
		}
		loc.Type = "NetworkFilesystem"
		if loc.Port == 0 {
			loc.Port = nfsDefaultPort
		}
	case "sharedmountpoint":
		if loc.Path == "" || loc.Path == "/" {
			return poolLocation{}, ErrParam("Your path is wrong.  Make sure it's of the format sharedmountpoint:///path")
		}
		loc.Type = "SharedMountPoint"
	case "filesystem", "file":
		if loc.Path == "" || loc.Path == "/" {
			return poolLocation{}, ErrParam("Your path is wrong.  Make sure it's of the format filesystem:///path")
		}
		loc.Type = "Filesystem"
	case "rbd":
		loc.Path = strings.Trim(loc.Path, "/")
		if loc.Host == "" || loc.Path == "" {
			return poolLocation{}, ErrParam("Your monitor and/or pool is wrong.  Make sure it's of the format rbd://[user:secret@]monitor[:port]/pool")
		}
		loc.Type = "RBD"
		if loc.Port == 0 {
			loc.Port = cephMonitorDefault
		}
		if secret, ok := u.User.Password(); ok {
			enc, err := c.S.Keys.Encrypt(secret)
			if err != nil {
				return poolLocation{}, err
			}
			u.User = url.UserPassword(u.User.Username(), enc)
			loc.URL = u.String()
		}
	default:
		return poolLocation{}, ErrParam("Unsupported storage pool url scheme %s: use nfs://, sharedmountpoint://, filesystem:// or rbd://", u.Scheme)
	}
	if loc.Host == "" {
		loc.Host = "localhost"
	}
	return loc, nil
}

// poolTags normalises a comma-separated tag list ("a, b,,c" is "a,b,c").
func poolTags(list []string) string { return strings.Join(list, ",") }

func (c *Call) renderPool(p *db.StoragePool) (map[string]any, error) {
	factor, err := c.ledger().StorageFactor(c.Ctx, c.S.DB.Read(), p.ID)
	if err != nil {
		return nil, err
	}
	m := map[string]any{"id": p.ID, "name": p.Name, "zoneid": p.ZoneID, "type": p.PoolType, "scope": p.Scope, "state": p.Status,
		"ipaddress": p.HostAddress, "path": p.Path, "created": FormatTime(p.Created), "provider": p.Provider,
		"disksizetotal": p.CapacityBytes, "capacitybytes": p.CapacityBytes, "disksizeallocated": p.Allocated, "disksizeused": p.UsedBytes,
		"overprovisionfactor": javaFloat(strconv.FormatFloat(factor, 'g', -1, 64)), "managed": p.Managed, "istagarule": false,
		"hasannotations": false}
	set(m, "zonename", p.ZoneName)
	if p.PodID != "" {
		m["podid"] = p.PodID
		set(m, "podname", p.PodName)
	}
	if p.ClusterID != "" {
		m["clusterid"] = p.ClusterID
		set(m, "clustername", p.ClusterName)
	}
	set(m, "hypervisor", p.Hypervisor)
	set(m, "tags", p.Tags)
	if p.CapacityIOPS.Valid {
		m["capacityiops"] = p.CapacityIOPS.Int64
	}
	return m, nil
}

// poolObject reads a pool back and renders it as {"storagepool": ...}.
func (c *Call) poolObject(id string) (any, error) {
	p, err := db.GetStoragePool(c.Ctx, c.S.DB.Read(), id)
	if err != nil {
		return nil, err
	}
	m, err := c.renderPool(p)
	if err != nil {
		return nil, err
	}
	return Object{Key: "storagepool", Value: m}, nil
}

// poolByID loads a live pool with CloudStack's error for an unknown id.
func (c *Call) poolByID(q db.Querier, id string) (*db.StoragePool, error) {
	p, err := db.GetStoragePool(c.Ctx, q, strings.ToLower(id))
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrParam("Unable to find storage pool by id %s", id)
	}
	return p, err
}

// nonNegative reads an optional long parameter that must not be negative.
func (c *Call) nonNegative(name string) (int64, bool, error) {
	v, ok := c.P[name]
	if !ok {
		return 0, false, nil
	}
	n, _ := strconv.ParseInt(v, 10, 64) // validated as a long already
	if n < 0 {
		return 0, false, ErrInvalid(c.Cmd.Name, name, v, "it being negative")
	}
	return n, true, nil
}

func createStoragePool(c *Call) (any, error) {
	name := strings.TrimSpace(c.P.String("name"))
	if name == "" {
		return nil, ErrMissing(c.Cmd.Name, "name")
	}
	if managed, _ := c.P.Bool("managed"); managed {
		return nil, ErrParam("Managed storage is not supported by storage provider %s", defaultPrimary)
	}
	if rule, _ := c.P.Bool("istagarule"); rule {
		return nil, ErrParam("Storage tags as rules are not supported")
	}
	if len(c.P.List("storageaccessgroups")) > 0 {
		return nil, ErrParam("Storage access groups are not supported")
	}
	capacity, hasCapacity, err := c.nonNegative("capacitybytes")
	if err != nil {
		return nil, err
	}
	iops, hasIOPS, err := c.nonNegative("capacityiops")
	if err != nil {
		return nil, err
	}
	// CloudStack falls back to the default provider for a name it does not know.
	provider := defaultPrimary
	clusterID, podID, zoneID := strings.ToLower(c.P.String("clusterid")), strings.ToLower(c.P.String("podid")), strings.ToLower(c.P.String("zoneid"))
	scope := "ZONE"
	if clusterID != "" {
		scope = "CLUSTER"
	}
	if v := c.P.String("scope"); v != "" {
		s, ok := enumValue(strings.ToUpper(v), "CLUSTER", "ZONE")
		if !ok {
			return nil, ErrParam("invalid scope for pool %s", v)
		}
		scope = s
	}
	if scope == "CLUSTER" && clusterID == "" {
		return nil, ErrParam("cluster id can't be null, if scope is cluster")
	}
	var hypervisor string
	if scope == "ZONE" {
		clusterID, podID = "", "" // CloudStack ignores them for a zone-wide pool
		v := c.P.String("hypervisor")
		if v == "" {
			return nil, ErrParam("Missing parameter hypervisor. Hypervisor type is required to create zone wide primary storage.")
		}
		if hypervisor, err = hypervisorName(v); err != nil {
			return nil, ErrParam("Zone wide storage pool is not supported for hypervisor type %s", v)
		}
	}
	loc, err := c.parsePoolURL(c.P.String("url"))
	if err != nil {
		return nil, err
	}
	p := &db.StoragePool{ID: uuid.NewString(), Name: name, ZoneID: zoneID, Scope: scope, PoolType: loc.Type, HostAddress: loc.Host,
		Path: loc.Path, Port: loc.Port, URL: loc.URL, Provider: provider, Hypervisor: hypervisor, Tags: poolTags(c.P.List("tags")),
		Status: db.PoolUp, Created: db.Now()}
	if hasIOPS {
		p.CapacityIOPS.Int64, p.CapacityIOPS.Valid = iops, true
	}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		zone, err := db.LookupZoneRef(c.Ctx, tx, zoneID)
		if errors.Is(err, db.ErrNotFound) {
			return ErrParam("Unable to find zone by id %s", zoneID)
		}
		if err != nil {
			return err
		}
		if scope == "CLUSTER" {
			cl, err := c.clusterByID(tx, clusterID)
			if err != nil {
				return err
			}
			if cl.ZoneID != zone.ID {
				return ErrParam("Cluster %s does not belong to zone %s", cl.ID, zone.ID)
			}
			if podID != "" && podID != cl.PodID {
				return ErrParam("Cluster %s does not belong to pod %s", cl.ID, podID)
			}
			p.PodID, p.ClusterID, p.Hypervisor = cl.PodID, cl.ID, cl.HypervisorType
			// Conflicts with a concurrent deleteCluster, which then sees this pool.
			if err := db.TouchCluster(c.Ctx, tx, cl.ID); err != nil {
				return err
			}
		}
		dups, _, err := db.ListStoragePools(c.Ctx, tx, db.StoragePoolFilter{ZoneID: zone.ID, HostAddress: p.HostAddress, Path: p.Path})
		if err != nil {
			return err
		}
		if len(dups) > 0 {
			return ErrParam("Storage pool %s already exists as pool %s (id=%s)", c.P.String("url"), dups[0].Name, dups[0].ID)
		}
		switch {
		case hasCapacity:
			p.CapacityBytes = capacity
		case p.Hypervisor == "Simulator":
			// Nothing to measure: a Simulator pool gets a fixed simulated size.
			p.CapacityBytes = simulatedPoolBytes
		default:
			// A KVM pool's size is measured by the agents when they mount it; until then it
			// has no capacity to allocate from.
		}
		if err := db.InsertStoragePool(c.Ctx, tx, p); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("A storage pool named %s already exists in zone %s", name, zone.Name)
			}
			return err
		}
		if err := c.ledger().SetPoolCapacity(c.Ctx, tx, p); err != nil {
			return err
		}
		return c.Event(tx, evPoolCreate, "Creating storage pool "+name+" ("+loc.Type+" "+p.HostAddress+":"+p.Path+")", poolResourceType, p.ID)
	})
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(p.Hypervisor, "Simulator") {
		// Real hosts Up in its scope connect it now and measure it (later ones as they join).
		hosts, _, err := db.ListHosts(c.Ctx, c.S.DB.Read(), db.HostFilter{ZoneID: p.ZoneID, ClusterID: p.ClusterID, Status: "Up"})
		if err != nil {
			return nil, err
		}
		for _, h := range hosts {
			if err := host.SyncPools(c.Ctx, c.deps(), h.ID); err != nil {
				c.S.Log.Warn("connect a new storage pool", "pool", p.ID, "host", h.ID, "err", err)
			}
		}
	}
	return c.poolObject(p.ID)
}

func updateStoragePool(c *Call) (any, error) {
	if rule, _ := c.P.Bool("istagarule"); rule {
		return nil, ErrParam("Storage tags as rules are not supported")
	}
	capacity, hasCapacity, err := c.nonNegative("capacitybytes")
	if err != nil {
		return nil, err
	}
	iops, hasIOPS, err := c.nonNegative("capacityiops")
	if err != nil {
		return nil, err
	}
	var id string
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		p, err := c.poolByID(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		id = p.ID
		before := *p
		if v := strings.TrimSpace(c.P.String("url")); v != "" && v != p.URL {
			return ErrParam("The url of storage pool %s cannot be changed; add a new pool instead", p.Name)
		}
		if name := strings.TrimSpace(c.P.String("name")); name != "" {
			p.Name = name
		}
		if c.P.Has("tags") {
			p.Tags = poolTags(c.P.List("tags"))
		}
		if hasIOPS {
			p.CapacityIOPS.Int64, p.CapacityIOPS.Valid = iops, true
		}
		l := c.ledger()
		if hasCapacity && capacity != p.CapacityBytes {
			factor, err := l.StorageFactor(c.Ctx, tx, p.ID)
			if err != nil {
				return err
			}
			if float64(capacity)*factor < float64(p.Allocated) || capacity < p.UsedBytes {
				return ErrParam("Cannot reduce the number of bytes for this storage pool as it would lead to an insufficient number of bytes")
			}
			p.CapacityBytes = capacity
		}
		var events []string
		if enabled, ok := c.P.Bool("enabled"); ok {
			switch {
			case enabled && p.Status == db.PoolDisabled:
				p.Status = db.PoolUp
				events = append(events, evPoolEnable)
			case enabled && p.Status != db.PoolUp && p.Status != db.PoolDown: // Down: enabled, only unreachable
				return ErrParam("Primary storage with id %s cannot be enabled. Storage pool state : %s", p.ID, p.Status)
			case !enabled && (p.Status == db.PoolUp || p.Status == db.PoolDown):
				p.Status = db.PoolDisabled
				events = append(events, evPoolDisable)
			case !enabled && p.Status != db.PoolDisabled:
				return ErrParam("Primary storage with id %s cannot be disabled. Storage pool state : %s", p.ID, p.Status)
			}
		}
		if *p == before {
			return nil
		}
		if err := db.UpdateStoragePool(c.Ctx, tx, p); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("A storage pool named %s already exists in zone %s", p.Name, p.ZoneName)
			}
			return err
		}
		if err := l.SetPoolCapacity(c.Ctx, tx, p); err != nil {
			return err
		}
		if len(events) == 0 || p.Name != before.Name || p.Tags != before.Tags || p.CapacityBytes != before.CapacityBytes || p.CapacityIOPS != before.CapacityIOPS {
			events = append(events, evPoolUpdate)
		}
		for _, ev := range events {
			if err := c.Event(tx, ev, "Updating storage pool "+p.Name, poolResourceType, p.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c.poolObject(id)
}

func deleteStoragePool(c *Call) (any, error) {
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		p, err := c.poolByID(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		if p.Status != db.PoolMaintenance {
			return ErrParam("Unable to delete storage due to it is not in Maintenance state, id: %s", p.ID)
		}
		// As CloudStack: refused while the pool holds volumes; with forced, while it holds
		// volumes not destroyed, the destroyed ones being expunged with the pool.
		forced, _ := c.P.Bool("forced")
		if n, err := db.CountPoolVolumes(c.Ctx, tx, p.ID, !forced); err != nil {
			return err
		} else if n > 0 && forced {
			return ErrInUse("Cannot delete pool %s as there are associated non-destroyed vols for this pool", p.Name)
		} else if n > 0 {
			return ErrInUse("Cannot delete pool %s as there are associated volumes for this pool", p.Name)
		}
		if forced {
			if _, err := db.ExpungeDestroyedPoolVolumes(c.Ctx, tx, p.ID); err != nil {
				return err
			}
		}
		if err := db.RemoveStoragePool(c.Ctx, tx, p.ID, p.Version); err != nil {
			return err
		}
		if err := c.ledger().Remove(c.Ctx, tx, p.ID); err != nil {
			return err
		}
		return c.Event(tx, evPoolDelete, "Deleting storage pool "+p.Name, poolResourceType, p.ID)
	})
	if err != nil {
		return nil, err
	}
	return Success(), nil
}

// setPoolStatus moves a pool to a status in q, with its ledger rows enabled only when Up.
func (c *Call) setPoolStatus(q db.Querier, p *db.StoragePool, status string) error {
	p.Status = status
	if err := db.UpdateStoragePool(c.Ctx, q, p); err != nil {
		return err
	}
	p.Version++
	return db.SetCapacityEnabled(c.Ctx, q, p.ID, status == db.PoolUp)
}

// enableStorageMaintenance moves an Up pool to PrepareForMaintenance in the transaction that
// writes its job; the job then takes it to Maintenance. CloudStack migrates or stops the VMs
// using the pool in between; Atoll has no VMs yet, so there is nothing to move.
func enableStorageMaintenance(c *Call) (any, error) {
	var jobID, id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		p, err := c.poolByID(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		id = p.ID
		if p.Status != db.PoolUp && p.Status != db.PoolDown && p.Status != db.PoolErrorInMaintenance {
			return ErrParam("Primary storage with id %s is not ready for migration, as the status is:%s", p.ID, p.Status)
		}
		if err := c.setPoolStatus(tx, p, db.PoolPrepareMaintenance); err != nil {
			return err
		}
		if jobID, err = c.EnqueueJob(tx, poolResourceType, p.ID); err != nil {
			return err
		}
		return c.Event(tx, evPoolMaintPrepare, "Preparing storage pool "+p.Name+" for maintenance", poolResourceType, p.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: id}, nil
}

func enableStorageMaintenanceJob(c *Call, _ *db.Job) (any, error) {
	var id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		p, err := c.poolByID(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		id = p.ID
		switch p.Status {
		case db.PoolMaintenance:
			return nil // an earlier run of this job finished before its server died
		case db.PoolPrepareMaintenance:
		default:
			return ErrInternal("storage pool %s left PrepareForMaintenance (now %s) before maintenance completed", p.ID, p.Status)
		}
		if err := c.setPoolStatus(tx, p, db.PoolMaintenance); err != nil {
			return err
		}
		return c.Event(tx, evPoolMaintPrepare, "Storage pool "+p.Name+" is in maintenance", poolResourceType, p.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.poolObject(id)
}

// cancelStorageMaintenance brings a pool in Maintenance (or ErrorInMaintenance, or Disabled,
// which CloudStack also accepts here) back Up, in its job.
func cancelStorageMaintenance(c *Call) (any, error) {
	p, err := c.poolByID(c.S.DB.Read(), c.P.String("id"))
	if err != nil {
		return nil, err
	}
	if p.Status == db.PoolUp || p.Status == db.PoolDown || p.Status == db.PoolPrepareMaintenance {
		return nil, ErrParam("Primary storage with id %s is not ready to complete migration, as the status is:%s", p.ID, p.Status)
	}
	return c.StartJob(poolResourceType, p.ID)
}

func cancelStorageMaintenanceJob(c *Call, _ *db.Job) (any, error) {
	var id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		p, err := c.poolByID(tx, c.P.String("id"))
		if err != nil {
			return err
		}
		id = p.ID
		switch p.Status {
		case db.PoolUp:
			return nil // done by an earlier run of this job
		case db.PoolPrepareMaintenance:
			return ErrParam("Primary storage with id %s is not ready to complete migration, as the status is:%s", p.ID, p.Status)
		}
		if err := c.setPoolStatus(tx, p, db.PoolUp); err != nil {
			return err
		}
		return c.Event(tx, evPoolMaintCancel, "Cancelling maintenance of storage pool "+p.Name, poolResourceType, p.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.poolObject(id)
}

func listStoragePools(c *Call) (any, error) {
	if c.P.String("storageaccessgroup") != "" {
		return ListResult{Key: "storagepool"}, nil // storage access groups do not exist in Atoll
	}
	f := db.StoragePoolFilter{ID: strings.ToLower(c.P.String("id")), Name: c.P.String("name"), ZoneID: strings.ToLower(c.P.String("zoneid")),
		PodID: strings.ToLower(c.P.String("podid")), ClusterID: strings.ToLower(c.P.String("clusterid")), HostID: strings.ToLower(c.P.String("hostid")),
		IPAddress: c.P.String("ipaddress"), Path: c.P.String("path"), Scope: c.P.String("scope"), Status: c.P.String("status"),
		Keyword: c.P.String("keyword")}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListStoragePools(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, p := range list {
		m, err := c.renderPool(p)
		if err != nil {
			return nil, err
		}
		items = append(items, m)
	}
	return ListResult{Key: "storagepool", Items: items, Count: total}, nil
}

// storageProviders are the providers Atoll implements, by CloudStack's provider type.
var storageProviders = map[string][]string{"primary": {defaultPrimary}, "image": {defaultImage}}

func listStorageProviders(c *Call) (any, error) {
	typ := strings.ToLower(strings.TrimSpace(c.P.String("type")))
	names, ok := storageProviders[typ]
	if !ok {
		return nil, ErrParam("Invalid parameter: %s", c.P.String("type"))
	}
	kw := strings.ToLower(c.P.String("keyword"))
	items := []any{}
	for _, n := range names {
		if kw == "" || strings.Contains(strings.ToLower(n), kw) {
			items = append(items, map[string]any{"name": n, "type": strings.ToUpper(typ)})
		}
	}
	total := len(items)
	if limit, offset := c.P.Paging(); limit > 0 {
		items = items[min(offset, total):min(offset+limit, total)]
	}
	return ListResult{Key: "dataStoreProvider", Items: items, Count: total}, nil
}

func renderImageStore(i *db.ImageStore) map[string]any {
	m := map[string]any{"id": i.ID, "name": i.Name, "url": i.URL, "providername": i.Provider, "scope": i.Scope, "readonly": i.ReadOnly,
		"hasannotations": false}
	set(m, "protocol", i.Protocol)
	set(m, "zoneid", i.ZoneID)
	set(m, "zonename", i.ZoneName)
	if i.CapacityBytes > 0 {
		m["disksizetotal"] = i.CapacityBytes
		m["disksizeused"] = i.UsedBytes
	}
	return m
}

func addImageStore(c *Call) (any, error) {
	// CloudStack uses its default image store provider for a name it does not know.
	provider := defaultImage
	zoneID := strings.ToLower(c.P.String("zoneid"))
	if zoneID == "" {
		return nil, ErrParam("Image store provider %s does not support scope REGION", provider)
	}
	raw := strings.TrimSpace(c.P.String("url"))
	if raw == "" {
		return nil, ErrMissing(c.Cmd.Name, "url")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return nil, ErrParam("%s is not a valid uri", raw)
	}
	if !strings.EqualFold(u.Scheme, "nfs") {
		return nil, ErrParam("Unsupported scheme for secondary storage: %s", u.Scheme)
	}
	if u.Hostname() == "" || u.Path == "" || u.Path == "/" {
		return nil, ErrParam("Your host and/or path is wrong.  Make sure it's of the format nfs://hostname/path")
	}
	name := strings.TrimSpace(c.P.String("name"))
	if name == "" {
		name = raw
	}
	if len([]rune(name)) > 255 {
		return nil, ErrInvalid(c.Cmd.Name, "name", name, "its length exceeding the limit of 255 characters")
	}
	i := &db.ImageStore{ID: uuid.NewString(), Name: name, URL: raw, Protocol: "nfs", Provider: provider, Scope: "ZONE", Role: "Image",
		Created: db.Now()}
	err = c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		zone, err := db.LookupZoneRef(c.Ctx, tx, zoneID)
		if errors.Is(err, db.ErrNotFound) {
			return ErrParam("Unable to find zone by id %s", zoneID)
		}
		if err != nil {
			return err
		}
		i.ZoneID, i.ZoneName = zone.ID, zone.Name
		// Simulator zones and KVM zones alike: nothing is mounted here; the store is used by
		// whoever needs it (template downloads) later.
		if err := db.InsertImageStore(c.Ctx, tx, i); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("The image store with name %s already exists, try creating with another name", name)
			}
			return err
		}
		return c.Event(tx, evImageStoreCreate, "Adding image store "+name+" ("+raw+") to zone "+zone.Name, imageStoreResType, i.ID)
	})
	if err != nil {
		return nil, err
	}
	return Object{Key: "imagestore", Value: renderImageStore(i)}, nil
}

func deleteImageStore(c *Call) (any, error) {
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		id := strings.ToLower(c.P.String("id"))
		i, err := db.GetImageStore(c.Ctx, tx, id)
		if errors.Is(err, db.ErrNotFound) {
			return ErrParam("Unable to find image store by id %s", id)
		}
		if err != nil {
			return err
		}
		// As CloudStack, refuse while the store holds template copies or snapshot backups
		// (volumes are never kept on image stores in Atoll).
		if n, err := db.CountTemplateCopiesInStore(c.Ctx, tx, i.ID); err != nil {
			return err
		} else if n > 0 {
			return ErrParam("Cannot delete image store with active templates backup!")
		}
		if n, err := db.CountStoreSnapshots(c.Ctx, tx, i.ID); err != nil {
			return err
		} else if n > 0 {
			return ErrParam("Cannot delete image store with active snapshots backup!")
		}
		if err := db.RemoveImageStore(c.Ctx, tx, i.ID); err != nil {
			return err
		}
		return c.Event(tx, evImageStoreDelete, "Deleting image store "+i.Name, imageStoreResType, i.ID)
	})
	if err != nil {
		return nil, err
	}
	return Success(), nil
}

func listImageStores(c *Call) (any, error) {
	f := db.ImageStoreFilter{ID: strings.ToLower(c.P.String("id")), Name: c.P.String("name"), ZoneID: strings.ToLower(c.P.String("zoneid")),
		Provider: c.P.String("provider"), Protocol: c.P.String("protocol"), Keyword: c.P.String("keyword")}
	if ro, ok := c.P.Bool("readonly"); ok {
		f.ReadOnly = &ro
	}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListImageStores(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, i := range list {
		items = append(items, renderImageStore(i))
	}
	return ListResult{Key: "imagestore", Items: items, Count: total}, nil
}
