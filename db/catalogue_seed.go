package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// The defaults CloudStack ships, under CloudStack's names. Ids are UUIDs generated at insert;
// catalogue_seeds records that a seed set was applied, so each set runs once per cloud.

var seedOSCategories = []string{"Ubuntu", "Debian", "Fedora", "CentOS", "Rocky Linux", "Alma Linux", "Oracle", "RedHat", "SUSE", "Windows", "Other"}

var seedOSTypes = []struct{ category, description string }{
	{"Ubuntu", "Ubuntu 18.04 LTS"}, {"Ubuntu", "Ubuntu 20.04 LTS"}, {"Ubuntu", "Ubuntu 22.04 LTS"}, {"Ubuntu", "Ubuntu 24.04 LTS"},
	{"Ubuntu", "Other Ubuntu (64-bit)"}, {"Ubuntu", "Other Ubuntu (32-bit)"},
	{"Debian", "Debian GNU/Linux 9 (64-bit)"}, {"Debian", "Debian GNU/Linux 10 (64-bit)"}, {"Debian", "Debian GNU/Linux 11 (64-bit)"},
	{"Debian", "Debian GNU/Linux 12 (64-bit)"},
	{"Fedora", "Fedora Linux (64 bit)"},
	{"CentOS", "CentOS 7"}, {"CentOS", "CentOS 8"}, {"CentOS", "CentOS Stream 9"}, {"CentOS", "CentOS Stream 10 (preview)"},
	{"Rocky Linux", "Rocky Linux 8"}, {"Rocky Linux", "Rocky Linux 9"},
	{"Alma Linux", "AlmaLinux 8"}, {"Alma Linux", "AlmaLinux 9"},
	{"Oracle", "Oracle Linux 8"}, {"Oracle", "Oracle Linux 9"},
	{"RedHat", "Red Hat Enterprise Linux 7.0"}, {"RedHat", "Red Hat Enterprise Linux 8.0"}, {"RedHat", "Red Hat Enterprise Linux 9.0"},
	{"SUSE", "SUSE Linux Enterprise Server 12 SP5 (64-bit)"}, {"SUSE", "SUSE Linux Enterprise Server 15 (64-bit)"},
	{"Windows", "Windows Server 2012 R2 (64-bit)"}, {"Windows", "Windows Server 2016 (64-bit)"}, {"Windows", "Windows Server 2019 (64-bit)"},
	{"Windows", "Windows Server 2022 (64-bit)"}, {"Windows", "Windows Server 2025"},
	{"Windows", "Windows 10 (64-bit)"}, {"Windows", "Windows 11 (64-bit)"},
	{"Other", "Other Linux (64-bit)"}, {"Other", "Other Linux (32-bit)"}, {"Other", "Other (64-bit)"}, {"Other", "Other (32-bit)"},
	{"Other", "Other PV (64-bit)"}, {"Other", "Generic Linux UEFI"}, {"Other", "Generic Linux BIOS"}, {"Other", "FreeBSD (64-bit)"},
}

// Network service names and providers as CloudStack spells them.
const (
	vr    = "VirtualRouter"
	vpcVR = "VpcVirtualRouter"
)

func seedNetworkOfferings() []*NetworkOffering {
	basic := map[string]string{"Dhcp": vr, "Dns": vr, "UserData": vr}
	with := func(m map[string]string, extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	return []*NetworkOffering{
		{Name: "DefaultSharedNetworkOfferingWithSGService", DisplayText: "Offering for Shared Security group enabled networks",
			GuestIPType: "Shared", Services: with(basic, map[string]string{"SecurityGroup": "SecurityGroupProvider"}),
			SpecifyVlan: true, SpecifyIPRanges: true, Availability: "Optional"},
		{Name: "DefaultSharedNetworkOffering", DisplayText: "Offering for Shared networks", GuestIPType: "Shared",
			Services: with(basic, nil), SpecifyVlan: true, SpecifyIPRanges: true, Availability: "Optional"},
		{Name: "DefaultIsolatedNetworkOfferingWithSourceNatService", DisplayText: "Offering for Isolated networks with Source Nat service enabled",
			GuestIPType: "Isolated", Availability: "Required", EgressDefaultPolicy: true, // guests reach out until egress rules say otherwise
			Services: with(basic, map[string]string{"Firewall": vr, "Gateway": vr, "Lb": vr, "SourceNat": vr, "StaticNat": vr, "PortForwarding": vr, "Vpn": vr}),
			Capabilities: []NetworkCapability{{"SourceNat", "SupportedSourceNatTypes", "peraccount"}, {"SourceNat", "RedundantRouter", "false"},
				{"Lb", "SupportedLBIsolation", "dedicated"}, {"Lb", "ElasticLb", "false"}, {"StaticNat", "ElasticIp", "false"}}},
		{Name: "DefaultIsolatedNetworkOffering", DisplayText: "Offering for Isolated networks with no Source Nat service", GuestIPType: "Isolated",
			Services: with(basic, nil), SpecifyVlan: true, SpecifyIPRanges: true, Availability: "Optional"},
		{Name: "DefaultIsolatedNetworkOfferingForVpcNetworks", DisplayText: "Offering for Isolated VPC networks with Source Nat service enabled",
			GuestIPType: "Isolated", Availability: "Optional", ForVPC: true,
			Services: map[string]string{"Dhcp": vpcVR, "Dns": vpcVR, "UserData": vpcVR, "Gateway": vpcVR, "Lb": vpcVR, "SourceNat": vpcVR,
				"StaticNat": vpcVR, "PortForwarding": vpcVR, "Vpn": vpcVR, "NetworkACL": vpcVR},
			Capabilities: []NetworkCapability{{"SourceNat", "SupportedSourceNatTypes", "peraccount"}, {"Lb", "SupportedLBIsolation", "dedicated"}}},
		{Name: "DefaultL2NetworkOffering", DisplayText: "Offering for L2 networks", GuestIPType: "L2", Services: map[string]string{},
			Availability: "Optional"},
	}
}

// SeedCatalogue inserts CloudStack's default offerings and guest OS list once per cloud. It is
// safe to run on several servers at once: the first to record the seed set inserts it.
func SeedCatalogue(ctx context.Context, d *DB) error {
	err := d.Transaction(ctx, func(tx Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO catalogue_seeds (name, applied) VALUES ('defaults-v1', ?)", Now()); err != nil {
			if IsDuplicate(err) {
				return nil
			}
			return fmt.Errorf("db: seed catalogue: %w", err)
		}
		return seedDefaults(ctx, tx)
	})
	if err != nil {
		return err
	}
	return d.Transaction(ctx, func(tx Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO catalogue_seeds (name, applied) VALUES ('simulator-os-v2', ?)", Now()); err != nil {
			if IsDuplicate(err) {
				return nil
			}
			return fmt.Errorf("db: seed catalogue: %w", err)
		}
		return seedSimulatorOS(ctx, tx)
	})
}

// SimulatorTemplateOS is the guest OS of the built-in Simulator template, as CloudStack's
// simulator template records it.
const SimulatorTemplateOS = "CentOS 5.3 (64-bit)"

// seedSimulatorOS gives the built-in Simulator template its guest OS type (added to the CentOS
// category when missing), as CloudStack's templates.simulator.sql does, unless an admin set one.
func seedSimulatorOS(ctx context.Context, q Querier) error {
	var catID string
	err := q.QueryRowContext(ctx, "SELECT id FROM os_categories WHERE name = 'CentOS'").Scan(&catID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("db: seed simulator os: %w", err)
	}
	var osID string
	err = q.QueryRowContext(ctx, "SELECT id FROM os_types WHERE live_key = ? AND removed IS NULL", strings.ToLower(SimulatorTemplateOS)).Scan(&osID)
	if errors.Is(err, sql.ErrNoRows) {
		osID = uuid.NewString()
		err = InsertOSType(ctx, q, &OSType{ID: osID, CategoryID: catID, Description: SimulatorTemplateOS, ForDisplay: true, Created: Now()})
	}
	if err != nil {
		return fmt.Errorf("db: seed simulator os: %w", err)
	}
	if _, err := q.ExecContext(ctx, "UPDATE templates SET os_type_id = ? WHERE id = ? AND os_type_id IS NULL", osID, SimulatorTemplateID); err != nil {
		return fmt.Errorf("db: seed simulator os: %w", err)
	}
	return nil
}

func seedDefaults(ctx context.Context, q Querier) error {
	now := Now()
	for i, o := range []*ServiceOffering{
		{Name: "Small Instance", DisplayText: "Small Instance", CPUNumber: 1, CPUSpeed: 500, Memory: 512},
		{Name: "Medium Instance", DisplayText: "Medium Instance", CPUNumber: 1, CPUSpeed: 1000, Memory: 1024},
		{Name: "System Offering For Software Router", DisplayText: "System Offering For Software Router", CPUNumber: 1, CPUSpeed: 500,
			Memory: 256, IsSystem: true, SystemVMType: "domainrouter", OfferHA: true},
	} {
		o.ID, o.Created, o.IsDefault, o.DynamicScaling, o.Details = uuid.NewString(), now+int64(i), true, true, map[string]string{}
		if err := InsertServiceOffering(ctx, q, o); err != nil {
			return err
		}
	}
	for i, o := range []*DiskOffering{
		{Name: "Small", DisplayText: "Small Disk, 5 GB", DiskSize: 5 << 30},
		{Name: "Medium", DisplayText: "Medium Disk, 20 GB", DiskSize: 20 << 30},
		{Name: "Large", DisplayText: "Large Disk, 100 GB", DiskSize: 100 << 30},
		{Name: "Custom", DisplayText: "Custom Disk", Customized: true},
	} {
		o.ID, o.Created, o.IsDefault, o.DisplayOffering = uuid.NewString(), now+int64(i), true, true
		if err := InsertDiskOffering(ctx, q, o); err != nil {
			return err
		}
	}
	for i, o := range seedNetworkOfferings() {
		o.ID, o.Created, o.IsDefault, o.State, o.ConserveMode, o.TrafficType = uuid.NewString(), now+int64(i), true, "Enabled", true, "Guest"
		o.UniqueName = o.Name
		if err := InsertNetworkOffering(ctx, q, o); err != nil {
			return err
		}
	}
	vpc := &VPCOffering{ID: uuid.NewString(), Name: "Default VPC offering", UniqueName: "Default VPC offering", DisplayText: "Default VPC offering",
		Services: map[string][]string{"Dhcp": {vpcVR}, "Dns": {vpcVR}, "UserData": {vpcVR}, "SourceNat": {vpcVR}, "StaticNat": {vpcVR},
			"PortForwarding": {vpcVR}, "Lb": {vpcVR, "InternalLbVm"}, "Vpn": {vpcVR}, "NetworkACL": {vpcVR}, "Gateway": {vpcVR}},
		IsDefault: true, State: "Enabled", Created: now}
	if err := InsertVPCOffering(ctx, q, vpc); err != nil {
		return err
	}
	cats := map[string]string{}
	for i, name := range seedOSCategories {
		c := &OSCategory{ID: uuid.NewString(), Name: name, Featured: true, SortKey: i + 1, Created: now}
		if err := InsertOSCategory(ctx, q, c); err != nil {
			return err
		}
		cats[name] = c.ID
	}
	for i, t := range seedOSTypes {
		ot := &OSType{ID: uuid.NewString(), CategoryID: cats[t.category], Description: t.description, ForDisplay: true, Created: now + int64(i)}
		if err := InsertOSType(ctx, q, ot); err != nil {
			return err
		}
	}
	return nil
}
