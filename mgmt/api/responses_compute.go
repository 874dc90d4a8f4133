package api

// Response tables of the compute commands: VMs and their NICs, affinity groups, templates
// and ISOs, SSH key pairs, volumes, snapshots, OS types and offerings.

// nicFields are NicResponse's.
var nicFields = []Field{
	f("id", rString, "the NIC's id"),
	f("networkid", rString, "the id of the NIC's network"),
	f("networkname", rString, "the name of the NIC's network"),
	f("type", rString, "the type of the NIC's network: Isolated, Shared or L2"),
	f("isdefault", rBool, "whether the NIC carries the VM's default route"),
	f("macaddress", rString, "the NIC's MAC address"),
	f("deviceid", rString, "the NIC's position among the VM's NICs"),
	f("virtualmachineid", rString, "the id of the NIC's VM"),
	f("traffictype", rString, "the kind of traffic the NIC carries"),
	f("ipaddress", rString, "the NIC's IPv4 address"),
	f("netmask", rString, "the netmask of the NIC's IPv4 address"),
	f("gateway", rString, "the gateway of the NIC's network"),
	f("ip6address", rString, "the NIC's IPv6 address"),
	f("broadcasturi", rString, "the broadcast URI of the NIC's network (vlan://<id> for a VLAN)"),
	f("isolationuri", rString, "the isolation URI of the NIC"),
	f("secondaryip", rList, "the NIC's secondary IP addresses"),
	f("extradhcpoption", rList, "the extra DHCP options of the NIC"),
}

// nicResponseFields answers listNics.
var nicResponseFields = join(jobFields, nicFields)

// vmResponseFields is CloudStack's UserVmResponse (the fields Atoll renders).
var vmResponseFields = join(jobFields, owner("VM"), inZone("VM"), []Field{
	f("id", rString, "the VM's id"),
	f("name", rString, "the VM's name"),
	f("displayname", rString, "the VM's display name (its name when none was given)"),
	f("created", rDate, "when the VM was created"),
	f("lastupdated", rDate, "when the VM's power state was last reported"),
	f("state", rString, "the VM's state: Running, Stopped, Starting, Stopping, Destroyed, Expunging, Error, ..."),
	f("haenable", rBool, "whether the VM is restarted on another host when its host fails"),
	f("deleteprotection", rBool, "whether the VM is protected from destruction"),
	f("hostid", rString, "the id of the VM's host (root admins only)"),
	f("hostname", rString, "the name of the VM's host (root admins only)"),
	f("instancename", rString, "the VM's name on its hypervisor (admins only)"),
	f("cpunumber", rInt, "the number of the VM's CPU cores"),
	f("cpuspeed", rInt, "the speed of each of the VM's CPU cores, in MHz"),
	f("memory", rInt, "the VM's memory, in MiB"),
	f("serviceofferingid", rString, "the id of the VM's service offering"),
	f("serviceofferingname", rString, "the name of the VM's service offering"),
	f("diskofferingid", rString, "the id of the disk offering of the VM's root disk"),
	f("diskofferingname", rString, "the name of the disk offering of the VM's root disk"),
	f("templateid", rString, "the id of the template the VM was created from"),
	f("templatename", rString, "the name of that template"),
	f("templatedisplaytext", rString, "the display text of that template"),
	f("templatetype", rString, "the type of that template"),
	f("templateformat", rString, "the disk format of that template"),
	f("isoid", rString, "the id of the ISO attached to the VM"),
	f("isoname", rString, "the name of the ISO attached to the VM"),
	f("isodisplaytext", rString, "the display text of the ISO attached to the VM"),
	f("passwordenabled", rBool, "whether the VM's template supports setting its password"),
	f("password", rString, "the VM's password, right after it was set"),
	f("isdynamicallyscalable", rBool, "whether the VM's CPU and memory can be changed while it runs"),
	f("displayvm", rBool, "whether the VM is shown to its owner"),
	f("rootdeviceid", rLong, "the device id of the VM's root volume"),
	f("rootdevicetype", rString, "the device type of the VM's root volume"),
	f("hypervisor", rString, "the VM's hypervisor"),
	f("guestosid", rString, "the id of the VM's guest OS type"),
	f("ostypeid", rString, "the id of the VM's guest OS type"),
	f("osdisplayname", rString, "the name of the VM's guest OS type"),
	f("vmtype", rString, "the kind of VM: User"),
	f("group", rString, "the VM's group"),
	f("keypair", rString, "the names of the VM's SSH key pairs, comma-separated"),
	f("keypairs", rString, "the names of the VM's SSH key pairs, comma-separated"),
	f("ipaddress", rString, "the IPv4 address of the VM's default NIC"),
	f("userdata", rString, "the VM's user data, base64-encoded"),
	f("details", rMap, "the VM's details as key/value pairs"),
	nested("securitygroup", rSet, "the VM's security groups", securityGroupFields...),
	nested("affinitygroup", rSet, "the VM's affinity groups",
		f("id", rString, "the affinity group's id"),
		f("name", rString, "the affinity group's name"),
		f("type", rString, "the affinity group's type"),
		f("description", rString, "the affinity group's description")),
	nested("nic", rSet, "the VM's NICs", nicFields...),
	tags(rSet, "VM"),
}, vmStatsFields)

// vmUserDataResponse is CloudStack's VMUserDataResponse.
var vmUserDataResponse = join(jobFields, []Field{
	f("virtualmachineid", rString, "the VM's id"),
	f("userdata", rString, "the VM's user data, base64-encoded"),
})

// affinityGroupResponse is CloudStack's AffinityGroupResponse.
var affinityGroupResponse = join(jobFields, owner("affinity group"), []Field{
	f("id", rString, "the affinity group's id"),
	f("name", rString, "the affinity group's name"),
	f("type", rString, "the affinity group's type: host affinity or host anti-affinity"),
	f("description", rString, "the affinity group's description"),
	f("virtualmachineIds", rList, "the ids of the VMs in the group"),
})

// affinityGroupTypeResponse is CloudStack's AffinityGroupTypeResponse.
var affinityGroupTypeResponse = join(jobFields, []Field{
	f("type", rString, "the affinity group type"),
})

// templateResponse is CloudStack's TemplateResponse, for templates and ISOs alike.
var templateResponse = join(jobFields, owner("image"), []Field{
	f("id", rString, "the image's id"),
	f("name", rString, "the image's name"),
	f("displaytext", rString, "the image's display text"),
	f("ispublic", rBool, "whether every account may use the image"),
	f("isfeatured", rBool, "whether the image is featured"),
	f("isextractable", rBool, "whether the image may be downloaded"),
	f("crossZones", rBool, "whether the image is kept in every zone"),
	f("passwordenabled", rBool, "whether VMs of the image support setting their password"),
	f("sshkeyenabled", rBool, "whether VMs of the image support SSH keys"),
	f("isdynamicallyscalable", rBool, "whether VMs of the image can change CPU and memory while they run"),
	f("requireshvm", rBool, "whether the image needs hardware virtualization"),
	f("bootable", rBool, "whether the ISO can boot a VM"),
	f("format", "imageformat", "the image's disk format: QCOW2, RAW, ISO, ..."),
	f("hypervisor", rString, "the hypervisor the image is for"),
	f("templatetype", rString, "the image's type: USER, BUILTIN, SYSTEM, ..."),
	f("created", rDate, "when the image was registered"),
	f("removed", rDate, "when the image was removed"),
	f("isready", rBool, "whether the image is ready to use in its zone"),
	f("status", rString, "the state of the image's download in its zone"),
	f("size", rLong, "the image's virtual size, in bytes"),
	f("physicalsize", rLong, "the space the image takes on its store, in bytes"),
	f("bits", rPInt, "the image's processor word size: 32 or 64"),
	f("arch", rString, "the image's CPU architecture"),
	f("directdownload", rBool, "whether the image is downloaded straight to primary storage"),
	f("deployasis", rBool, "whether the image is deployed as it is (VMware)"),
	f("deployasisdetails", rMap, "the details of an image deployed as it is"),
	f("checksum", rString, "the checksum of the image's file"),
	f("url", rString, "the URL the image was registered from"),
	f("templatetag", rString, "the image's tag"),
	f("sourcetemplateid", rString, "the id of the template the image was made from"),
	f("parenttemplateid", rString, "the id of the root disk template a data disk template belongs to"),
	f("childtemplates", rSet, "the data disk templates a root disk template owns"),
	f("zoneid", rString, "the id of the zone of this copy of the image"),
	f("zonename", rString, "the name of the zone of this copy of the image"),
	f("hostid", rString, "the id of the image store holding the image"),
	f("hostname", rString, "the name of the image store holding the image"),
	f("downloaddetails", rList, "the download progress of the image in its zone"),
	f("ostypeid", rString, "the id of the image's guest OS type"),
	f("ostypename", rString, "the name of the image's guest OS type"),
	f("details", rMap, "the image's details as key/value pairs"),
	f("accountid", rString, "the id of the account that owns the image"),
	f("projectid", rString, "the id of the project that owns the image"),
	f("project", rString, "the name of the project that owns the image"),
	f("userdataid", rString, "the id of the user data linked to the image"),
	f("userdataname", rString, "the name of the user data linked to the image"),
	f("userdataparams", rString, "the parameters of the user data linked to the image"),
	f("userdatapolicy", rString, "how the linked user data combines with a VM's own"),
	f("icon", "resourceiconresponse", "the image's icon"),
	hasAnnotations("image"),
	tags(rSet, "image"),
})

// templatePermissionsResponse is CloudStack's TemplatePermissionsResponse.
var templatePermissionsResponse = join(jobFields, []Field{
	f("id", rString, "the image's id"),
	f("ispublic", rBool, "whether every account may use the image"),
	f("domainid", rString, "the id of the domain of the image's owner"),
	f("account", rList, "the accounts the image is shared with"),
	f("projectids", rList, "the projects the image is shared with"),
})

// extractResponse is CloudStack's ExtractResponse: where to download an image from.
var extractResponse = join(jobFields, []Field{
	f("id", rString, "the image's id"),
	f("name", rString, "the image's name"),
	f("extractId", rString, "the id of the download"),
	f("extractMode", rString, "how the image is downloaded: HTTP_DOWNLOAD"),
	f("state", rString, "the state of the download"),
	f("status", rString, "the status of the download"),
	f("uploadpercentage", rInt, "how much of the image has been made ready, in percent"),
	f("storagetype", rString, "the kind of storage the image is served from"),
	f("zoneid", rString, "the id of the zone the image is served from"),
	f("zonename", rString, "the name of that zone"),
	f("url", rString, "the URL to download the image from"),
	f("created", rDate, "when the download was set up"),
	f("accountid", rString, "the id of the account that owns the image"),
})

// sshKeyPairResponse is CloudStack's SSHKeyPairResponse.
var sshKeyPairResponse = join(jobFields, []Field{
	f("id", rString, "the key pair's id"),
	f("name", rString, "the key pair's name"),
	f("fingerprint", rString, "the fingerprint of the key pair's public key"),
	f("account", rString, "the name of the account that owns the key pair"),
	f("domainid", rString, "the id of the domain of the key pair's owner"),
	f("domain", rString, "the name of the domain of the key pair's owner"),
	f("projectid", rString, "the id of the project that owns the key pair"),
	f("project", rString, "the name of the project that owns the key pair"),
	hasAnnotations("key pair"),
})

// createSSHKeyPairResponse is CloudStack's CreateSSHKeyPairResponse: a new key pair, with
// its private key (shown this once).
var createSSHKeyPairResponse = join(sshKeyPairResponse, []Field{
	f("privatekey", rString, "the key pair's private key, which is not kept"),
})

// volumeResponse is CloudStack's VolumeResponse (the fields Atoll renders).
var volumeResponse = join(jobFields, inZone("volume"), owner("volume"), []Field{
	f("id", rString, "the volume's id"),
	f("name", rString, "the volume's name"),
	f("type", rString, "the volume's type: ROOT or DATADISK"),
	f("state", rString, "the volume's state: Allocated, Ready, Destroy, ..."),
	f("size", rLong, "the volume's size, in bytes"),
	f("virtualsize", rLong, "the volume's virtual size, in bytes"),
	f("podid", rString, "the id of the pod of the volume's storage pool"),
	f("created", rDate, "when the volume was created"),
	f("attached", rDate, "when the volume was attached to its VM"),
	f("destroyed", rBool, "whether the volume is destroyed and awaits expunging"),
	f("displayvolume", rBool, "whether the volume is shown to its owner"),
	f("isextractable", rBool, "whether the volume may be downloaded"),
	f("quiescevm", rBool, "whether the VM is quiesced before a snapshot of the volume"),
	f("provisioningtype", rString, "how the volume's space is provisioned: thin, sparse or fat"),
	f("storagetype", rString, "the kind of storage the volume is on: shared or local"),
	f("supportsstoragesnapshot", rBool, "whether the volume's storage takes snapshots itself"),
	f("deleteprotection", rBool, "whether the volume is protected from deletion"),
	f("hypervisor", rString, "the hypervisor of the volume's VM or storage"),
	f("virtualmachineid", rString, "the id of the VM the volume is attached to"),
	f("deviceid", rLong, "the volume's device id on its VM"),
	f("vmname", rString, "the name of the VM the volume is attached to"),
	f("vmdisplayname", rString, "the display name of the VM the volume is attached to"),
	f("vmstate", rString, "the state of the VM the volume is attached to"),
	f("vmtype", rString, "the kind of VM the volume is attached to"),
	f("storageid", rString, "the id of the volume's storage pool"),
	f("storage", rString, "the name of the volume's storage pool"),
	f("path", rString, "the volume's path on its storage pool"),
	f("templateid", rString, "the id of the template a root volume was made from"),
	f("snapshotid", rString, "the id of the snapshot the volume was made from"),
	f("miniops", rLong, "the volume's minimum IOPS"),
	f("maxiops", rLong, "the volume's maximum IOPS"),
	f("diskofferingid", rString, "the id of the volume's disk offering"),
	f("diskofferingname", rString, "the name of the volume's disk offering"),
	f("diskofferingdisplaytext", rString, "the display text of the volume's disk offering"),
	hasAnnotations("volume"),
	tags(rSet, "volume"),
})

// snapshotResponse is CloudStack's SnapshotResponse.
var snapshotResponse = join(jobFields, owner("snapshot"), inZone("snapshot"), []Field{
	f("id", rString, "the snapshot's id"),
	f("name", rString, "the snapshot's name"),
	f("projectid", rString, "the id of the project that owns the snapshot"),
	f("project", rString, "the name of the project that owns the snapshot"),
	f("volumeid", rString, "the id of the snapshot's volume"),
	f("volumename", rString, "the name of the snapshot's volume"),
	f("volumetype", rString, "the type of the snapshot's volume"),
	f("volumestate", rString, "the state of the snapshot's volume"),
	f("snapshottype", rString, "the snapshot's type: MANUAL, HOURLY, DAILY, WEEKLY or MONTHLY"),
	f("intervaltype", rString, "the interval of the policy that took the snapshot"),
	f("state", rString, "the snapshot's state: Creating, BackedUp, ..."),
	f("status", rString, "the state of the snapshot's copy on its store"),
	f("created", rDate, "when the snapshot was taken"),
	f("virtualsize", rLong, "the size of the snapshot's volume, in bytes"),
	f("physicalsize", rLong, "the space the snapshot takes, in bytes"),
	f("chainsize", rLong, "the space the snapshot's chain takes, in bytes"),
	f("revertable", rBool, "whether the volume can be reverted to the snapshot"),
	f("locationtype", rString, "where the snapshot is kept: PRIMARY or SECONDARY"),
	f("ostypeid", rString, "the id of the guest OS type of the snapshot's volume"),
	f("osdisplayname", rString, "the name of that guest OS type"),
	f("datastoreid", rString, "the id of the store holding the snapshot"),
	f("datastorename", rString, "the name of the store holding the snapshot"),
	f("datastoretype", rString, "the kind of store holding the snapshot"),
	f("datastorestate", rString, "the state of the store holding the snapshot"),
	f("downloaddetails", rMap, "the progress of the snapshot's copy"),
	f("parent", rString, "the id of the snapshot's parent in its chain"),
	f("parentname", rString, "the name of the snapshot's parent"),
	hasAnnotations("snapshot"),
	tags(rSet, "snapshot"),
})

// snapshotPolicyResponse is CloudStack's SnapshotPolicyResponse.
var snapshotPolicyResponse = join(jobFields, []Field{
	f("id", rString, "the policy's id"),
	f("volumeid", rString, "the id of the policy's volume"),
	f("volumename", rString, "the name of the policy's volume"),
	f("intervaltype", rShort, "how often the policy takes a snapshot: 0 hourly, 1 daily, 2 weekly, 3 monthly"),
	f("schedule", rString, "when in each interval the snapshot is taken"),
	f("timezone", rString, "the time zone the schedule is read in"),
	f("maxsnaps", rPInt, "how many of the policy's snapshots are kept"),
	f("fordisplay", rBool, "whether the policy is shown to its owner"),
	f("zone", rSet, "the zones the policy's snapshots are copied to"),
	f("storage", rSet, "the storage pools the policy's snapshots are copied to"),
	hasAnnotations("snapshot policy"),
	tags(rSet, "snapshot policy"),
})

// osTypeResponse is CloudStack's GuestOSResponse.
var osTypeResponse = join(jobFields, []Field{
	f("id", rString, "the OS type's id"),
	f("name", rString, "the OS type's name"),
	f("description", rString, "the OS type's name"),
	f("oscategoryid", rString, "the id of the OS type's category"),
	f("oscategoryname", rString, "the name of the OS type's category"),
	f("isuserdefined", rBool, "whether an admin added the OS type"),
	f("fordisplay", rBool, "whether the OS type is shown to users"),
})

// osCategoryResponse is CloudStack's GuestOSCategoryResponse.
var osCategoryResponse = join(jobFields, []Field{
	f("id", rString, "the OS category's id"),
	f("name", rString, "the OS category's name"),
	f("isfeatured", rBool, "whether the category is featured"),
	f("created", rDate, "when the category was added"),
})

// offeringRestriction are the domain and zone fields of an offering restricted to some.
var offeringRestriction = []Field{
	f("domainid", rString, "the ids of the domains the offering is restricted to, comma-separated"),
	f("domain", rString, "the names of those domains, comma-separated"),
	f("zoneid", rString, "the ids of the zones the offering is restricted to, comma-separated"),
	f("zone", rString, "the names of those zones, comma-separated"),
}

// ioRateFields are the disk I/O limits of disk and service offerings.
var ioRateFields = []Field{
	f("diskBytesReadRate", rLong, "the disk read rate limit, in bytes per second"),
	f("diskBytesReadRateMax", rLong, "the disk read burst rate limit, in bytes per second"),
	f("diskBytesReadRateMaxLength", rLong, "how long a read burst may last, in seconds"),
	f("diskBytesWriteRate", rLong, "the disk write rate limit, in bytes per second"),
	f("diskBytesWriteRateMax", rLong, "the disk write burst rate limit, in bytes per second"),
	f("diskBytesWriteRateMaxLength", rLong, "how long a write burst may last, in seconds"),
	f("diskIopsReadRate", rLong, "the disk read rate limit, in I/O requests per second"),
	f("diskIopsReadRateMax", rLong, "the disk read burst rate limit, in I/O requests per second"),
	f("diskIopsReadRateMaxLength", rLong, "how long a read burst may last, in seconds"),
	f("diskIopsWriteRate", rLong, "the disk write rate limit, in I/O requests per second"),
	f("diskIopsWriteRateMax", rLong, "the disk write burst rate limit, in I/O requests per second"),
	f("diskIopsWriteRateMaxLength", rLong, "how long a write burst may last, in seconds"),
}

// serviceOfferingResponse is CloudStack's ServiceOfferingResponse.
var serviceOfferingResponse = join(jobFields, offeringRestriction, ioRateFields, []Field{
	f("id", rString, "the offering's id"),
	f("name", rString, "the offering's name"),
	f("displaytext", rString, "the offering's display text"),
	f("created", rDate, "when the offering was created"),
	f("state", rString, "the offering's state: Active or Inactive"),
	f("storagetype", rString, "the kind of storage of the VM's root disk: shared or local"),
	f("provisioningtype", rString, "how the root disk's space is provisioned: thin, sparse or fat"),
	f("offerha", rBool, "whether VMs of the offering are restarted elsewhere when their host fails"),
	f("limitcpuuse", rBool, "whether VMs of the offering are held to their CPU share"),
	f("isvolatile", rBool, "whether a VM's root disk is replaced at each reboot"),
	f("issystem", rBool, "whether the offering is for system VMs"),
	f("systemvmtype", rString, "the kind of system VM the offering is for"),
	f("defaultuse", rBool, "whether the offering is the default one for its system VMs"),
	f("iscustomized", rBool, "whether VMs of the offering choose their CPU and memory"),
	f("iscustomizediops", rBool, "whether VMs of the offering choose their root disk's IOPS"),
	f("dynamicscalingenabled", rBool, "whether VMs of the offering may change CPU and memory while they run"),
	f("diskofferingstrictness", rBool, "whether the root disk's offering may be overridden"),
	f("encryptroot", rBool, "whether the root disk is encrypted"),
	f("purgeresources", rBool, "whether a VM's resources are purged when it is expunged"),
	f("cpunumber", rInt, "the number of CPU cores"),
	f("cpuspeed", rInt, "the speed of each CPU core, in MHz"),
	f("memory", rInt, "the memory, in MiB"),
	f("hosttags", rString, "the host tags VMs of the offering need"),
	f("storagetags", rString, "the storage tags the root disk needs"),
	f("deploymentplanner", rString, "the planner that places VMs of the offering"),
	f("cacheMode", rString, "the root disk's cache mode"),
	f("rootdisksize", rLong, "the size of the root disk, in GiB"),
	f("miniops", rLong, "the root disk's minimum IOPS"),
	f("maxiops", rLong, "the root disk's maximum IOPS"),
	f("hypervisorsnapshotreserve", rInt, "the share of the root disk reserved for hypervisor snapshots, in percent"),
	f("networkrate", rInt, "the network rate limit, in Mb/s"),
	f("serviceofferingdetails", rMap, "the offering's details as key/value pairs"),
	f("diskofferingid", rString, "the id of the root disk's disk offering"),
	f("diskofferingname", rString, "the name of that disk offering"),
	f("diskofferingdisplaytext", rString, "the display text of that disk offering"),
	hasAnnotations("offering"),
})

// diskOfferingResponse is CloudStack's DiskOfferingResponse.
var diskOfferingResponse = join(jobFields, offeringRestriction, ioRateFields, []Field{
	f("id", rString, "the offering's id"),
	f("name", rString, "the offering's name"),
	f("displaytext", rString, "the offering's display text"),
	f("created", rDate, "when the offering was created"),
	f("state", rString, "the offering's state: Active or Inactive"),
	f("disksize", rLong, "the disk's size, in GiB (0 when custom)"),
	f("iscustomized", rBool, "whether volumes of the offering choose their size"),
	f("iscustomizediops", rBool, "whether volumes of the offering choose their IOPS"),
	f("storagetype", rString, "the kind of storage: shared or local"),
	f("provisioningtype", rString, "how the disk's space is provisioned: thin, sparse or fat"),
	f("displayoffering", rBool, "whether the offering is shown to users"),
	f("disksizestrictness", rBool, "whether the disk's size may not be changed"),
	f("encrypt", rBool, "whether volumes of the offering are encrypted"),
	f("tags", rString, "the storage tags volumes of the offering need"),
	f("cacheMode", rString, "the disk's cache mode"),
	f("miniops", rLong, "the disk's minimum IOPS"),
	f("maxiops", rLong, "the disk's maximum IOPS"),
	f("hypervisorsnapshotreserve", rInt, "the share of the disk reserved for hypervisor snapshots, in percent"),
	hasAnnotations("offering"),
})
