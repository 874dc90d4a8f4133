package api

import (
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/template"
)

func registerCreateTemplate(s *Server) {
	s.Reg.Add(&Command{Name: "createTemplate", Response: templateResponse, Roles: AllRoles, Async: true, ResponseKey: "template",
		Description: "Creates a template of a virtual machine. The virtual machine must be in a STOPPED state. A template created from this command is automatically designated as a private template visible to the account that created it.",
		Params: []Param{
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "the name of the template"},
			{Name: "displaytext", Type: TString, Required: true, Length: 4096, Description: "The display text of the template, defaults to the 'name'."},
			{Name: "ostypeid", Type: TUUID, Required: true, Description: "the ID of the OS Type that best represents the OS of this template."},
			{Name: "volumeid", Type: TUUID, Description: "the ID of the disk volume the template is being created from. Either this parameter, or snapshotId has to be passed in"},
			{Name: "snapshotid", Type: TUUID, Description: "the ID of the snapshot the template is being created from. Either this parameter, or volumeId has to be passed in"},
			{Name: "virtualmachineid", Type: TUUID, Description: "Optional, VM ID. If this presents, it is going to create a baremetal template for VM this ID refers to."},
			{Name: "zoneid", Type: TUUID, Description: "the zone for the template. Can be specified with snapshot only"},
			{Name: "bits", Type: TInt, Description: "32 or 64 bit"},
			{Name: "ispublic", Type: TBool, Description: "true if this template is a public template, false otherwise"},
			{Name: "isfeatured", Type: TBool, Description: "true if this template is a featured template, false otherwise"},
			{Name: "passwordenabled", Type: TBool, Description: "true if the template supports the password reset feature; default is false"},
			{Name: "sshkeyenabled", Type: TBool, Description: "true if the template supports the sshkey upload feature; default is false"},
			{Name: "isdynamicallyscalable", Type: TBool, Description: "true if template contains XS/VMWare tools inorder to support dynamic scaling of VM cpu/memory"},
			{Name: "requireshvm", Type: TBool, Description: "true if the template requires HVM, false otherwise"},
			{Name: "templatetag", Type: TString, Description: "the tag for this template."},
			{Name: "details", Type: TMap, Length: 5120, Description: "Template details in key/value pairs using format details[i].keyname=keyvalue."},
			{Name: "url", Type: TString, Length: 2048, Description: "Optional, only for baremetal hypervisor. The directory name where template stored on CIFS server"},
			{Name: "arch", Type: TString, Description: "the CPU arch of the template"},
			{Name: "account", Type: TString, Description: "an optional accountName. Must be used with domainId."},
			{Name: "domainid", Type: TUUID, Description: "an optional domainId. If the account parameter is used, domainId must also be used."},
			{Name: "projectid", Type: TUUID, Description: "create template for the project (projects are not supported)"},
		},
		Handler: createTemplate, Job: createTemplateJob})
}

// createTemplate checks the parameters of a private template made from a stopped VM's volume
// or a backed-up snapshot and starts it (template.StartCreate).
func createTemplate(c *Call) (any, error) {
	volID, snapID := strings.ToLower(c.P.String("volumeid")), strings.ToLower(c.P.String("snapshotid"))
	if volID == "" && snapID == "" {
		return nil, ErrParam("Failed to create private template record, neither volume ID nor snapshot ID were specified")
	}
	if volID != "" && snapID != "" {
		return nil, ErrParam("Failed to create private template record, please specify only one of volume ID (%s) and snapshot ID (%s)", volID, snapID)
	}
	if c.P.String("virtualmachineid") != "" {
		return nil, ErrParam("Baremetal templates (virtualmachineid) are not supported")
	}
	name := strings.TrimSpace(c.P.String("name"))
	display := c.P.String("displaytext")
	if display == "" {
		display = name
	}
	bits := 64
	if b, ok := c.P.Int("bits"); ok {
		if b != 32 && b != 64 {
			return nil, ErrParam("Invalid bits value %d: use 32 or 64", b)
		}
		bits = b
	}
	public, _ := c.P.Bool("ispublic")
	featured, _ := c.P.Bool("isfeatured")
	pw, _ := c.P.Bool("passwordenabled")
	sshKey, _ := c.P.Bool("sshkeyenabled")
	dyn, _ := c.P.Bool("isdynamicallyscalable")
	hvm, hvmSet := c.P.Bool("requireshvm")
	if !hvmSet {
		hvm = true
	}
	details := map[string]string{}
	for _, m := range c.P.Map("details") {
		for k, v := range m {
			details[k] = v
		}
	}
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	jobID, t, err := template.StartCreate(c.Ctx, c.deps(), c.actor(), template.CreateSpec{Name: name, DisplayText: display,
		OSTypeID: strings.ToLower(c.P.String("ostypeid")), VolumeID: volID, SnapshotID: snapID, ZoneID: strings.ToLower(c.P.String("zoneid")),
		Bits: bits, Public: public, Featured: featured, PasswordEnabled: pw, SSHKeyEnabled: sshKey, DynamicScaling: dyn, RequiresHVM: hvm,
		TemplateTag: c.P.String("templatetag"), Details: details, Owner: c.imageOwnerParam()})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: t.ID}, nil
}

// createTemplateJob waits for the new template's copies and answers it.
func createTemplateJob(c *Call, j *db.Job) (any, error) {
	if err := template.Wait(c.Ctx, c.deps(), j.InstanceID); err != nil {
		return nil, err
	}
	items, err := c.imageItems(templateKind, db.TemplateFilter{ID: j.InstanceID})
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, ErrInternal("Failed to create template %s", j.InstanceID)
	}
	m := items[0].(map[string]any)
	if m["isready"] != true {
		return nil, ErrInternal("Failed to create template: %v", m["status"])
	}
	return Object{Key: "template", Value: m}, nil
}
