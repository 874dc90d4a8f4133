package config

// Scopes a setting may be set at, as CloudStack names them.
const (
	Global      = "global"
	Zone        = "zone"
	Cluster     = "cluster"
	Domain      = "domain"
	Account     = "account"
	StoragePool = "storagepool"
)

// Setting describes one configuration key.
type Setting struct {
	Name, Category, Description, Default string
	Type                                 string // String, Integer, Long, Float, Boolean
	Scopes                               []string
	Dynamic                              bool
	Component                            string
}

// Catalogue lists the settings Atoll honours, with CloudStack's names and defaults.
var Catalogue = []Setting{
	{Name: "ping.interval", Category: "Advanced", Type: "Integer", Default: "60", Scopes: []string{Global}, Dynamic: true,
		Description: "Interval in seconds between agent pings to the management server"},
	{Name: "ping.timeout", Category: "Advanced", Type: "Float", Default: "2.5", Scopes: []string{Global}, Dynamic: true,
		Description: "Multiplier of ping.interval after which a silent host is considered down"},
	{Name: "job.expire.minutes", Category: "Advanced", Type: "Long", Default: "1440", Scopes: []string{Global}, Dynamic: true,
		Description: "Minutes after which a completed async job is purged"},
	{Name: "job.cancel.threshold.minutes", Category: "Advanced", Type: "Long", Default: "60", Scopes: []string{Global}, Dynamic: true,
		Description: "Minutes after which a running async job is cancelled"},
	{Name: "session.timeout", Category: "Advanced", Type: "Integer", Default: "1800", Scopes: []string{Global}, Dynamic: true,
		Description: "Seconds of inactivity after which a login session ends"},
	{Name: "default.page.size", Category: "Advanced", Type: "Long", Default: "500", Scopes: []string{Global}, Dynamic: true,
		Description: "Default page size for API list calls"},
	{Name: "expunge.delay", Category: "Advanced", Type: "Integer", Default: "86400", Scopes: []string{Global}, Dynamic: false,
		Description: "Seconds to wait before expunging a destroyed VM"},
	{Name: "expunge.interval", Category: "Advanced", Type: "Integer", Default: "86400", Scopes: []string{Global}, Dynamic: false,
		Description: "Seconds between runs of the expunge thread"},
	{Name: "cpu.overprovisioning.factor", Category: "Advanced", Type: "Float", Default: "1.0", Scopes: []string{Global, Cluster}, Dynamic: true,
		Description: "Used for CPU overprovisioning calculation; available CPU is (actual CPU capacity)*(this factor)"},
	{Name: "mem.overprovisioning.factor", Category: "Advanced", Type: "Float", Default: "1.0", Scopes: []string{Global, Cluster}, Dynamic: true,
		Description: "Used for memory overprovisioning calculation"},
	{Name: "storage.overprovisioning.factor", Category: "Storage", Type: "Float", Default: "2", Scopes: []string{Global, StoragePool}, Dynamic: true,
		Description: "Used for storage overprovisioning calculation; available storage is (actual storage capacity)*(this factor)"},
	{Name: "cluster.cpu.allocated.capacity.disablethreshold", Category: "Alert", Type: "Float", Default: "0.85", Scopes: []string{Global, Cluster}, Dynamic: true,
		Description: "Percentage (0 to 1) of allocated CPU above which the cluster is not used for deployment"},
	{Name: "cluster.memory.allocated.capacity.disablethreshold", Category: "Alert", Type: "Float", Default: "0.85", Scopes: []string{Global, Cluster}, Dynamic: true,
		Description: "Percentage (0 to 1) of allocated memory above which the cluster is not used for deployment"},
	{Name: "pool.storage.allocated.capacity.disablethreshold", Category: "Alert", Type: "Float", Default: "0.85", Scopes: []string{Global, Zone}, Dynamic: true,
		Description: "Percentage (0 to 1) of allocated storage above which a pool is not used for allocation"},
	{Name: "vm.allocation.algorithm", Category: "Advanced", Type: "String", Default: "random", Scopes: []string{Global}, Dynamic: true,
		Description: "Order in which hosts are tried: random, firstfit, userdispersing, userconcentratedpod_random, userconcentratedpod_firstfit"},
	{Name: "max.account.user.vms", Category: "Account Defaults", Type: "Long", Default: "20", Scopes: []string{Global, Account}, Dynamic: true,
		Description: "The default maximum number of user VMs that can be deployed for an account"},
	{Name: "max.account.public.ips", Category: "Account Defaults", Type: "Long", Default: "20", Scopes: []string{Global, Account}, Dynamic: true,
		Description: "The default maximum number of public IPs that can be consumed by an account"},
	{Name: "max.account.volumes", Category: "Account Defaults", Type: "Long", Default: "20", Scopes: []string{Global, Account}, Dynamic: true,
		Description: "The default maximum number of volumes that can be created for an account"},
	{Name: "max.account.snapshots", Category: "Account Defaults", Type: "Long", Default: "20", Scopes: []string{Global, Account}, Dynamic: true,
		Description: "The default maximum number of snapshots that can be created for an account"},
	{Name: "max.account.templates", Category: "Account Defaults", Type: "Long", Default: "20", Scopes: []string{Global, Account}, Dynamic: true,
		Description: "The default maximum number of templates that can be deployed for an account"},
	{Name: "max.account.networks", Category: "Account Defaults", Type: "Long", Default: "20", Scopes: []string{Global, Account}, Dynamic: true,
		Description: "The default maximum number of networks that can be created for an account"},
	{Name: "max.account.vpcs", Category: "Account Defaults", Type: "Long", Default: "20", Scopes: []string{Global, Account}, Dynamic: true,
		Description: "The default maximum number of vpcs that can be created for an account"},
	{Name: "max.account.cpus", Category: "Account Defaults", Type: "Long", Default: "40", Scopes: []string{Global, Account}, Dynamic: true,
		Description: "The default maximum number of cpu cores that can be used for an account"},
	{Name: "max.account.memory", Category: "Account Defaults", Type: "Long", Default: "40960", Scopes: []string{Global, Account}, Dynamic: true,
		Description: "The default maximum memory (in MB) that can be used for an account"},
	{Name: "max.account.primary.storage", Category: "Account Defaults", Type: "Long", Default: "200", Scopes: []string{Global, Account}, Dynamic: true,
		Description: "The default maximum primary storage space (in GiB) that can be used for an account"},
	{Name: "max.account.secondary.storage", Category: "Account Defaults", Type: "Long", Default: "400", Scopes: []string{Global, Account}, Dynamic: true,
		Description: "The default maximum secondary storage space (in GiB) that can be used for an account"},
	{Name: "max.account.projects", Category: "Project Defaults", Type: "Long", Default: "10", Scopes: []string{Global, Account}, Dynamic: true,
		Description: "The default maximum number of projects that can be created for an account"},
	{Name: "max.domain.user.vms", Category: "Domain Defaults", Type: "Long", Default: "40", Scopes: []string{Global}, Dynamic: true,
		Description: "The default maximum number of user VMs that can be deployed for a domain"},
	{Name: "max.domain.public.ips", Category: "Domain Defaults", Type: "Long", Default: "40", Scopes: []string{Global}, Dynamic: true,
		Description: "The default maximum number of public IPs that can be consumed by a domain"},
	{Name: "max.domain.volumes", Category: "Domain Defaults", Type: "Long", Default: "40", Scopes: []string{Global}, Dynamic: true,
		Description: "The default maximum number of volumes that can be created for a domain"},
	{Name: "max.domain.snapshots", Category: "Domain Defaults", Type: "Long", Default: "40", Scopes: []string{Global}, Dynamic: true,
		Description: "The default maximum number of snapshots that can be created for a domain"},
	{Name: "max.domain.templates", Category: "Domain Defaults", Type: "Long", Default: "40", Scopes: []string{Global}, Dynamic: true,
		Description: "The default maximum number of templates that can be deployed for a domain"},
	{Name: "max.domain.networks", Category: "Domain Defaults", Type: "Long", Default: "40", Scopes: []string{Global}, Dynamic: true,
		Description: "The default maximum number of networks that can be created for a domain"},
	{Name: "max.domain.vpcs", Category: "Domain Defaults", Type: "Long", Default: "40", Scopes: []string{Global}, Dynamic: true,
		Description: "The default maximum number of vpcs that can be created for a domain"},
	{Name: "max.domain.cpus", Category: "Domain Defaults", Type: "Long", Default: "80", Scopes: []string{Global}, Dynamic: true,
		Description: "The default maximum number of cpu cores that can be used for a domain"},
	{Name: "max.domain.memory", Category: "Domain Defaults", Type: "Long", Default: "81920", Scopes: []string{Global}, Dynamic: true,
		Description: "The default maximum memory (in MB) that can be used for a domain"},
	{Name: "max.domain.primary.storage", Category: "Domain Defaults", Type: "Long", Default: "400", Scopes: []string{Global}, Dynamic: true,
		Description: "The default maximum primary storage space (in GiB) that can be used for a domain"},
	{Name: "max.domain.secondary.storage", Category: "Domain Defaults", Type: "Long", Default: "800", Scopes: []string{Global}, Dynamic: true,
		Description: "The default maximum secondary storage space (in GiB) that can be used for a domain"},
	{Name: "max.domain.projects", Category: "Project Defaults", Type: "Long", Default: "50", Scopes: []string{Global}, Dynamic: true,
		Description: "The default maximum number of projects that can be created for a domain"},
	{Name: "use.system.public.ips", Category: "Advanced", Type: "Boolean", Default: "true", Scopes: []string{Global, Zone, Account}, Dynamic: true,
		Description: "If true, when an account has dedicated public IP ranges, system IPs are used once those are exhausted"},
	{Name: "indirect.agent.lb.algorithm", Category: "Advanced", Type: "String", Default: "static", Scopes: []string{Global}, Dynamic: true,
		Description: "Algorithm agents use to pick a management server: static, roundrobin or shuffle"},
	{Name: "host", Category: "Advanced", Type: "String", Default: "localhost", Scopes: []string{Global}, Dynamic: true,
		Description: "Comma-separated management server addresses agents connect to"},
	{Name: "guest.domain.suffix", Category: "Network", Type: "String", Default: "cloud.internal", Scopes: []string{Global, Zone, Domain}, Dynamic: true,
		Description: "Default domain name for VMs inside virtualized networks"},
	{Name: "allow.user.create.projects", Category: "Project Defaults", Type: "Boolean", Default: "true", Scopes: []string{Global, Domain}, Dynamic: true,
		Description: "If regular users can create a project; true by default"},
	{Name: "enable.dynamic.scale.vm", Category: "Advanced", Type: "Boolean", Default: "false", Scopes: []string{Global, Zone}, Dynamic: true,
		Description: "Enables or disables dynamic scaling of VMs"},
	{Name: "allow.public.user.templates", Category: "Advanced", Type: "Boolean", Default: "true", Scopes: []string{Global, Account, Domain}, Dynamic: true,
		Description: "If false, users will not be able to create public templates"},
	{Name: "network.gc.interval", Category: "Advanced", Type: "Integer", Default: "600", Scopes: []string{Global}, Dynamic: true,
		Description: "Seconds between network garbage collector runs"},
	{Name: "storage.cleanup.enabled", Category: "Advanced", Type: "Boolean", Default: "true", Scopes: []string{Global}, Dynamic: false,
		Description: "Enables/disables the storage cleanup thread"},
	{Name: "api.throttling.enabled", Category: "Advanced", Type: "Boolean", Default: "false", Scopes: []string{Global}, Dynamic: false,
		Description: "Enable/disable API throttling"},
	{Name: "event.purge.delay", Category: "Advanced", Type: "Integer", Default: "15", Scopes: []string{Global}, Dynamic: false,
		Description: "Events older than this many days are purged; 0 keeps them forever"},
}
