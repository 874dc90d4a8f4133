package api

import (
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/orchestrate/template"
)

// imageKind is a template's or ISO's Kind with the key its responses render under.
type imageKind struct {
	template.Kind
	key string // response key
}

var (
	templateKind = imageKind{Kind: template.TemplateKind, key: "template"}
	isoKind      = imageKind{Kind: template.ISOKind, key: "iso"}
)

// templateFormats are CloudStack's Storage.ImageFormat values a template may have.
var templateFormats = template.Formats

// formatExtensions are UriUtils' supported file extensions by format (each also compressed).
var formatExtensions = map[string][]string{
	"vhd": {"vhd"}, "vhdx": {"vhdx"}, "qcow2": {"qcow2", "img", "metalink"}, "ova": {"ova", "metalink"}, "tar": {"tar"},
	"raw": {"img", "raw"}, "vmdk": {"vmdk"}, "iso": {"iso", "metalink"},
}

func registerTemplates(s *Server) {
	RegisterTaggable("Template", func(c *Call, q db.Querier, id string) (string, string, error) { return imageOwner(c, q, id, false) })
	RegisterTaggable("ISO", func(c *Call, q db.Querier, id string) (string, string, error) { return imageOwner(c, q, id, true) })
	s.Reg.Add(&Command{Name: "registerTemplate", Response: templateResponse, Roles: AllRoles, List: false, ResponseKey: "template",
		Description: "Registers an existing template into the CloudStack cloud.",
		Params: []Param{
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "the name of the template"},
			{Name: "displaytext", Type: TString, Required: true, Length: 4096, Description: "The display text of the template, defaults to name"},
			{Name: "format", Type: TString, Required: true, Description: "the format for the template. Possible values include QCOW2, RAW, VHD and OVA."},
			{Name: "hypervisor", Type: TString, Required: true, Description: "the target hypervisor for the template"},
			{Name: "url", Type: TString, Required: true, Length: 2048, Description: "the URL of where the template is hosted"},
			{Name: "zoneid", Type: TString, Description: "the ID of the zone the template is to be hosted on, or -1 for all zones"},
			{Name: "zoneids", Type: TList, Elem: "uuid", Description: "A list of zone ids where the template will be hosted"},
			{Name: "ostypeid", Type: TUUID, Description: "the ID of the OS Type that best represents the OS of this template"},
			{Name: "checksum", Type: TString, Description: "the checksum value of this template: {ALGORITHM}hex, or bare hex for MD5"},
			{Name: "bits", Type: TInt, Description: "32 or 64 bits support. 64 by default"},
			{Name: "ispublic", Type: TBool, Description: "true if the template is available to all accounts; default is true"},
			{Name: "isfeatured", Type: TBool, Description: "true if this template is a featured template, false otherwise"},
			{Name: "isextractable", Type: TBool, Description: "true if the template or its derivatives are extractable; default is false"},
			{Name: "passwordenabled", Type: TBool, Description: "true if the template supports the password reset feature; default is false"},
			{Name: "sshkeyenabled", Type: TBool, Description: "true if the template supports the sshkey upload feature; default is false"},
			{Name: "isdynamicallyscalable", Type: TBool, Description: "true if template contains XS/VMWare tools inorder to support dynamic scaling of VM cpu/memory"},
			{Name: "requireshvm", Type: TBool, Description: "true if this template requires HVM"},
			{Name: "isrouting", Type: TBool, Description: "true if the template type is routing i.e., if template is used to deploy router"},
			{Name: "templatetag", Type: TString, Description: "the tag for this template."},
			{Name: "templatetype", Type: TString, Description: "the type of the template: USER (default), or for admins ROUTING, SYSTEM, BUILTIN"},
			{Name: "details", Type: TMap, Length: 5120, Description: "Template details in key/value pairs"},
			{Name: "directdownload", Type: TBool, Description: "true if template should bypass Secondary Storage and be downloaded to Primary Storage on deployment (not supported)"},
			{Name: "deployasis", Type: TBool, Description: "(VMware only) true if VM deployments should preserve all the configurations defined for this template (not supported)"},
			{Name: "arch", Type: TString, Description: "the CPU arch of the template: x86_64 (default) or aarch64"},
			{Name: "account", Type: TString, Description: "an optional accountName. Must be used with domainId."},
			{Name: "domainid", Type: TUUID, Description: "an optional domainId. If the account parameter is used, domainId must also be used."},
			{Name: "projectid", Type: TUUID, Description: "Register template for the project (projects are not supported)"},
		},
		Handler: func(c *Call) (any, error) { return c.registerImage(templateKind) }})
	s.Reg.Add(&Command{Name: "updateTemplate", Response: templateResponse, Roles: AllRoles, ResponseKey: "template",
		Description: "Updates attributes of a template.",
		Params:      updateImageParams(false),
		Handler:     func(c *Call) (any, error) { return c.updateImage(templateKind) }})
	s.Reg.Add(&Command{Name: "deleteTemplate", Response: successResponse, Roles: AllRoles, Async: true,
		Description: "Deletes a template from the system. All virtual machines using the deleted template will not be affected.",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the template"},
			{Name: "zoneid", Type: TUUID, Description: "the ID of zone of the template"},
			{Name: "forced", Type: TBool, Description: "Force delete a template even if VMs use it"},
			{Name: "issystem", Type: TBool, Description: "Necessary if the template's type is system."},
		},
		Handler: func(c *Call) (any, error) { return c.deleteImage(templateKind) }, Job: successJob})
	s.Reg.Add(&Command{Name: "copyTemplate", Response: templateResponse, Roles: AllRoles, Async: true, ResponseKey: "template",
		Description: "Copies a template from one zone to another.",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "Template ID."},
			{Name: "sourcezoneid", Type: TUUID, Description: "ID of the zone the template is currently hosted on"},
			{Name: "destzoneid", Type: TUUID, Description: "ID of the zone the template is being copied to."},
			{Name: "destzoneids", Type: TList, Elem: "uuid", Description: "A list of IDs of the zones that the template needs to be copied to."},
		},
		Handler: func(c *Call) (any, error) { return c.copyImage(templateKind) }, Job: copyImageJob})
	s.Reg.Add(&Command{Name: "extractTemplate", Response: extractResponse, Roles: AllRoles, Async: true, ResponseKey: "template",
		Description: "Extracts a template",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the template"},
			{Name: "mode", Type: TString, Required: true, Description: "the mode of extraction - HTTP_DOWNLOAD or FTP_UPLOAD"},
			{Name: "url", Type: TString, Length: 2048, Description: "the url to which the template would be extracted"},
			{Name: "zoneid", Type: TUUID, Description: "the ID of the zone where the template is located"},
		},
		Handler: func(c *Call) (any, error) { return c.extractImage(templateKind) }, Job: extractImageJob})
	registerTemplateLists(s)
	registerTemplatePermissions(s)
	registerCreateTemplate(s)
	registerIsos(s)
	registerTemplateUpload(s) // after registerTemplate and registerIso, whose parameters it takes
	registerTemplateDownloads(s)
}

func updateImageParams(iso bool) []Param {
	ps := []Param{
		{Name: "id", Type: TUUID, Required: true, Description: "the ID of the image file"},
		{Name: "name", Type: TString, Length: 255, Description: "the name of the image file"},
		{Name: "displaytext", Type: TString, Length: 4096, Description: "the display text of the image"},
		{Name: "format", Type: TString, Description: "the format for the image"},
		{Name: "ostypeid", Type: TUUID, Description: "the ID of the OS type that best represents the OS of this image."},
		{Name: "passwordenabled", Type: TBool, Description: "true if the image supports the password reset feature; default is false"},
		{Name: "sshkeyenabled", Type: TBool, Description: "true if the template supports the sshkey upload feature; default is false"},
		{Name: "bootable", Type: TBool, Description: "true if image is bootable, false otherwise; available only for updateIso API"},
		{Name: "isdynamicallyscalable", Type: TBool, Description: "true if template/ISO contains XS/VMWare tools inorder to support dynamic scaling of VM cpu/memory"},
		{Name: "requireshvm", Type: TBool, Description: "true if the template requires HVM, false otherwise; available only for updateTemplate API"},
		{Name: "isrouting", Type: TBool, Description: "true if the template type is routing i.e., if template is used to deploy router"},
		{Name: "sortkey", Type: TInt, Description: "sort key of the template, integer"},
		{Name: "details", Type: TMap, Length: 5120, Description: "Details in key/value pairs using format details[i].keyname=keyvalue."},
		{Name: "cleanupdetails", Type: TBool, Description: "optional boolean field, which indicates if details should be cleaned up or not"},
		{Name: "forceupdateostype", Type: TBool, Description: "Force OS type update. Warning: Updating OS type will update the guest OS configuration for all the existing Instances deployed with this template/iso"},
		{Name: "arch", Type: TString, Description: "the CPU arch of the template/ISO"},
	}
	if !iso {
		ps = append(ps, Param{Name: "templatetype", Type: TString, Description: "the type of the template. Valid options are: USER/VNF (for all users) and SYSTEM/ROUTING/BUILTIN (for admins only)."},
			Param{Name: "templatetag", Type: TString, Description: "the tag for this template."})
	}
	return ps
}

// imageOwner finds a template's or ISO's owner for tags.
func imageOwner(c *Call, q db.Querier, id string, iso bool) (string, string, error) {
	t, err := db.GetTemplate(c.Ctx, q, id)
	if err != nil {
		return "", "", err
	}
	if t.IsISO() != iso {
		return "", "", db.ErrNotFound
	}
	return t.AccountID, t.DomainID, nil
}

// imageByID loads a live template or ISO with CloudStack's error for an unknown id.
func (c *Call) imageByID(q db.Querier, k imageKind, id string) (*db.Template, error) {
	return template.ByID(c.Ctx, q, k.Kind, id)
}

// checkImageUse answers an error unless the caller may use a template or ISO (template.CheckUse).
func (c *Call) checkImageUse(q db.Querier, k imageKind, t *db.Template) error {
	return template.CheckUse(c.Ctx, q, c.Caller, k.Kind, t)
}

// checkImageOwner answers an error unless the caller may change a template or ISO.
func (c *Call) checkImageOwner(q db.Querier, k imageKind, t *db.Template) error {
	return template.CheckOwner(c.Ctx, q, c.Caller, k.Kind, t)
}

var hexRE = regexp.MustCompile(`^[0-9a-fA-F]+$`)

// checksumLengths are DigestHelper's algorithms and their hex digest lengths.
var checksumLengths = map[string]int{"MD5": 32, "SHA-1": 40, "SHA-224": 56, "SHA-256": 64, "SHA-384": 96, "SHA-512": 128}

// validateChecksum accepts CloudStack's checksum forms: {ALGORITHM}hex, or bare hex (MD5).
// Nothing is downloaded on the Simulator, so the checksum is only recorded.
func validateChecksum(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	algo, digest := "MD5", s
	if strings.HasPrefix(s, "{") {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return ErrParam("Checksum %s is not valid: missing '}' after the algorithm", s)
		}
		algo, digest = strings.ToUpper(s[1:end]), s[end+1:]
	}
	n, ok := checksumLengths[algo]
	if !ok {
		return ErrParam("Checksum algorithm %s is not supported: use MD5, SHA-1, SHA-224, SHA-256, SHA-384 or SHA-512", algo)
	}
	if len(digest) != n || !hexRE.MatchString(digest) {
		return ErrParam("Checksum %s is not a valid %s checksum: want %d hexadecimal characters", s, algo, n)
	}
	return nil
}

// validateImageURL is UriUtils.validateUrl without the DNS lookup (nothing is contacted on the
// Simulator): http or https, a usable host, and a file extension matching the format.
func validateImageURL(raw, format string, allowLoopback bool) error {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" {
		return ErrParam("Invalid URL: %s", raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "file":
		return ErrParam("File:// type urls are currently unsupported")
	default:
		return ErrParam("Unsupported scheme for url: %s", raw)
	}
	host := u.Hostname()
	if host == "" {
		return ErrParam("Invalid URL: %s", raw)
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsUnspecified() || ip.IsLinkLocalUnicast() || ip.IsLoopback() && !allowLoopback || ip.IsMulticast() {
			return ErrParam("Illegal host specified in url")
		}
		if ip.To4() == nil {
			return ErrParam("IPV6 addresses not supported (%s)", host)
		}
	}
	exts, ok := formatExtensions[strings.ToLower(format)]
	if !ok {
		return nil
	}
	path := strings.ToLower(u.Path)
	matches := func(exts []string) bool {
		for _, e := range exts {
			if e == "metalink" {
				if strings.HasSuffix(path, ".metalink") {
					return true
				}
				continue
			}
			for _, suffix := range []string{"", ".zip", ".bz2", ".gz"} {
				if strings.HasSuffix(path, "."+e+suffix) {
					return true
				}
			}
		}
		return false
	}
	if matches(exts) {
		return nil
	}
	for _, other := range formatExtensions {
		if matches(other) {
			return ErrParam("Please specify a valid URL. URL:%s is an invalid for the format %s", u.Path, strings.ToLower(format))
		}
	}
	return ErrParam("Please specify a valid %s", strings.ToLower(format))
}

// registerImage registers a template or ISO from a URL into every image store of its zones
// and starts the download job (template.Register), and answers it as a list.
func (c *Call) registerImage(k imageKind) (any, error) {
	spec, err := c.imageSpec(k, false)
	if err != nil {
		return nil, err
	}
	t, err := template.Register(c.Ctx, c.deps(), c.actor(), k.Kind, spec)
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	items, err := c.imageItems(k, db.TemplateFilter{ID: t.ID, ShowRemoved: false})
	if err != nil {
		return nil, err
	}
	return ListResult{Key: k.key, Items: items, Count: len(items)}, nil
}

// imageSpec reads and checks registerTemplate's and registerIso's parameters (and, upload,
// getUploadParamsForTemplate's and ForIso's, which have no URL).
func (c *Call) imageSpec(k imageKind, upload bool) (template.RegisterSpec, error) {
	var none template.RegisterSpec
	name := strings.TrimSpace(c.P.String("name"))
	if name == "" {
		return none, ErrMissing(c.Cmd.Name, "name")
	}
	display := c.P.String("displaytext")
	if display == "" {
		display = name
	}
	format := "ISO"
	hypervisor := "None"
	if !k.ISO {
		format = strings.ToUpper(c.P.String("format"))
		valid := false
		for _, f := range templateFormats {
			valid = valid || f == format
		}
		if !valid {
			return none, ErrParam("Image format: %s is incorrect. Supported formats are %s", c.P.String("format"), strings.Join(append(templateFormats, "ISO"), ", "))
		}
		h, err := hypervisorName(c.P.String("hypervisor"))
		if err != nil {
			return none, ErrParam("Hypervisor Type: %s is invalid. Supported Hypervisor types are: %s", c.P.String("hypervisor"), strings.Join(supportedHypervisors, ", "))
		}
		hypervisor = h
	}
	rawURL := strings.TrimSpace(c.P.String("url"))
	if !upload {
		loopback, _ := c.S.Config.Get(c.Ctx, config.Global, "", "atoll.image.url.allow.loopback")
		if err := validateImageURL(rawURL, format, strings.EqualFold(loopback, "true")); err != nil {
			return none, err
		}
	}
	checksum := strings.TrimSpace(c.P.String("checksum"))
	if err := validateChecksum(checksum); err != nil {
		return none, err
	}
	bits := 64
	if b, ok := c.P.Int("bits"); ok {
		if b != 32 && b != 64 {
			return none, ErrParam("Invalid bits value %d: use 32 or 64", b)
		}
		bits = b
	}
	if a := c.P.String("arch"); a != "" && !strings.EqualFold(a, "x86_64") && !strings.EqualFold(a, "aarch64") {
		return none, ErrParam("Invalid arch %s: use x86_64 or aarch64", a)
	}
	if d, _ := c.P.Bool("directdownload"); d {
		return none, ErrParam("Direct download of templates is not supported")
	}
	if ttype := strings.ToUpper(c.P.String("templatetype")); ttype != "" && ttype != db.TemplateUser {
		return none, ErrParam("Only USER templates can be registered")
	}
	public, _ := c.P.Bool("ispublic")
	featured, _ := c.P.Bool("isfeatured")
	extractable, _ := c.P.Bool("isextractable")
	pw, _ := c.P.Bool("passwordenabled")
	sshKey, _ := c.P.Bool("sshkeyenabled")
	dyn, _ := c.P.Bool("isdynamicallyscalable")
	hvm, hvmSet := c.P.Bool("requireshvm")
	if !hvmSet {
		hvm = true
	}
	bootable, bootSet := c.P.Bool("bootable")
	if !k.ISO || !bootSet {
		bootable = true
	}
	details := map[string]string{}
	for _, m := range c.P.Map("details") {
		for kk, v := range m {
			details[kk] = v
		}
	}
	if err := c.refuseProject(); err != nil {
		return none, err
	}
	return template.RegisterSpec{Name: name, DisplayText: display, Format: format,
		Hypervisor: hypervisor, URL: rawURL, Checksum: checksum, Bits: bits, Public: public, Featured: featured, Extractable: extractable,
		PasswordEnabled: pw, SSHKeyEnabled: sshKey, DynamicScaling: dyn, RequiresHVM: hvm, Bootable: bootable,
		TemplateTag: c.P.String("templatetag"), Details: details, OSTypeID: strings.ToLower(c.P.String("ostypeid")),
		ZoneID: strings.TrimSpace(c.P.String("zoneid")), ZoneIDs: c.P.List("zoneids"), Owner: c.imageOwnerParam()}, nil
}

func (c *Call) updateImage(k imageKind) (any, error) {
	spec := template.UpdateSpec{Format: c.P.String("format"), TemplateType: c.P.String("templatetype")}
	for name, dst := range map[string]**string{"name": &spec.Name, "displaytext": &spec.DisplayText, "templatetag": &spec.TemplateTag} {
		if c.P.Has(name) {
			v := c.P.String(name)
			*dst = &v
		}
	}
	if c.P.Has("ostypeid") {
		v := strings.ToLower(c.P.String("ostypeid"))
		spec.OSTypeID = &v
	}
	for name, dst := range map[string]**bool{"passwordenabled": &spec.PasswordEnabled, "sshkeyenabled": &spec.SSHKeyEnabled,
		"isdynamicallyscalable": &spec.DynamicScaling, "requireshvm": &spec.RequiresHVM, "bootable": &spec.Bootable} {
		if v, ok := c.P.Bool(name); ok {
			*dst = &v
		}
	}
	spec.CleanupDetails, _ = c.P.Bool("cleanupdetails")
	if ms := c.P.Map("details"); len(ms) > 0 {
		spec.Details = map[string]string{}
		for _, m := range ms {
			for kk, v := range m {
				spec.Details[kk] = v
			}
		}
	}
	t, err := template.Update(c.Ctx, c.deps(), c.actor(), k.Kind, c.P.String("id"), spec)
	if err != nil {
		return nil, err
	}
	return c.imageObject(k, t.ID)
}

// imageObject renders a template or ISO (its first zone) as {"template": ...} or {"iso": ...}.
func (c *Call) imageObject(k imageKind, id string) (any, error) {
	items, err := c.imageItems(k, db.TemplateFilter{ID: id})
	if err != nil {
		return nil, err
	}
	if len(items) > 0 {
		return Object{Key: k.key, Value: items[0]}, nil
	}
	// A template with no copy left (all of its zones gone) still renders, without a zone.
	t, err := db.GetTemplate(c.Ctx, c.S.DB.Read(), id)
	if err != nil {
		return nil, err
	}
	m, err := c.renderImage(&db.TemplateInZone{Template: t}, nil)
	if err != nil {
		return nil, err
	}
	m["tags"] = []any{}
	return Object{Key: k.key, Value: m}, nil
}

func (c *Call) deleteImage(k imageKind) (any, error) {
	forced, _ := c.P.Bool("forced")
	system, _ := c.P.Bool("issystem")
	jobID, err := template.StartDelete(c.Ctx, c.deps(), c.actor(), k.Kind, c.P.String("id"),
		template.DeleteSpec{ZoneID: strings.ToLower(c.P.String("zoneid")), Forced: forced, IsSystem: system})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID}, nil
}

// removeImageCopies removes a template's copies in one zone (all zones when zoneID is empty)
// in the caller's transaction (template.RemoveCopies).
func (c *Call) removeImageCopies(tx db.Tx, t *db.Template, zoneID string) error {
	return template.RemoveCopies(c.Ctx, c.deps(), tx, t, zoneID)
}

// imageOwnerParam is the account and domainid parameters: who a new template or ISO is for.
func (c *Call) imageOwnerParam() template.Owner {
	return template.Owner{Account: c.P.String("account"), DomainID: strings.ToLower(c.P.String("domainid"))}
}
