package api

func registerIsos(s *Server) {
	s.Reg.Add(&Command{Name: "registerIso", Response: templateResponse, Roles: AllRoles, ResponseKey: "iso",
		Description: "Registers an existing ISO into the CloudStack Cloud.",
		Params: []Param{
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "the name of the ISO"},
			{Name: "displaytext", Type: TString, Required: true, Length: 4096, Description: "the display text of the ISO, defaults to the 'name'"},
			{Name: "url", Type: TString, Required: true, Length: 2048, Description: "the URL to where the ISO is currently being hosted"},
			{Name: "zoneid", Type: TString, Required: true, Description: "the ID of the zone you wish to register the ISO to, or -1 for all zones"},
			{Name: "bootable", Type: TBool, Description: "true if this ISO is bootable. If not passed explicitly its assumed to be true"},
			{Name: "ostypeid", Type: TUUID, Description: "the ID of the OS type that best represents the OS of this ISO. If the ISO is bootable this parameter needs to be passed"},
			{Name: "checksum", Type: TString, Description: "the checksum value of this ISO: {ALGORITHM}hex, or bare hex for MD5"},
			{Name: "ispublic", Type: TBool, Description: "true if you want to register the ISO to be publicly available to all users, false otherwise."},
			{Name: "isfeatured", Type: TBool, Description: "true if you want this ISO to be featured"},
			{Name: "isextractable", Type: TBool, Description: "true if the ISO or its derivatives are extractable; default is false"},
			{Name: "isdynamicallyscalable", Type: TBool, Description: "true if ISO contains XS/VMWare tools inorder to support dynamic scaling of VM cpu/memory"},
			{Name: "passwordenabled", Type: TBool, Description: "true if password reset feature is supported; default is false"},
			{Name: "directdownload", Type: TBool, Description: "true if ISO should bypass Secondary Storage and be downloaded to Primary Storage on deployment (not supported)"},
			{Name: "imagestoreuuid", Type: TString, Description: "Image store UUID"},
			{Name: "arch", Type: TString, Description: "the CPU arch of the ISO: x86_64 (default) or aarch64"},
			{Name: "account", Type: TString, Description: "an optional account name. Must be used with domainId."},
			{Name: "domainid", Type: TUUID, Description: "an optional domainId. If the account parameter is used, domainId must also be used."},
			{Name: "projectid", Type: TUUID, Description: "Register ISO for the project (projects are not supported)"},
		},
		Handler: func(c *Call) (any, error) { return c.registerImage(isoKind) }})
	s.Reg.Add(&Command{Name: "listIsos", Response: templateResponse, Roles: AllRoles, List: true, ResponseKey: "iso",
		Description: "Lists all available ISO files.",
		Params: withScope(
			Param{Name: "isofilter", Type: TString, Description: "possible values are featured, self, selfexecutable (default), sharedexecutable, executable, community and all"},
			Param{Name: "id", Type: TUUID, Description: "list ISO by ID"},
			Param{Name: "name", Type: TString, Description: "list all ISOs by name"},
			Param{Name: "zoneid", Type: TUUID, Description: "the ID of the zone"},
			Param{Name: "bootable", Type: TBool, Description: "true if the ISO is bootable, false otherwise"},
			Param{Name: "ispublic", Type: TBool, Description: "true if the ISO is publicly available to all users, false otherwise."},
			Param{Name: "isready", Type: TBool, Description: "true if this ISO is ready to be deployed"},
			Param{Name: "hypervisor", Type: TString, Description: "the hypervisor for which to restrict the search"},
			Param{Name: "showremoved", Type: TBool, Description: "show removed ISOs as well"},
			Param{Name: "showunique", Type: TBool, Description: "If set to true, list only unique isos across zones"},
			Param{Name: "showicon", Type: TBool, Description: "flag to display the resource icon for ISOs"},
			Param{Name: "arch", Type: TString, Description: "the CPU arch of the ISO"},
			Param{Name: "projectid", Type: TUUID, Description: "list objects by project (projects are not supported: lists nothing)"},
			tagsListParam,
		),
		Handler: func(c *Call) (any, error) {
			f := c.P.String("isofilter")
			if f == "" {
				f = "selfexecutable"
			}
			return c.listImages(isoKind, f)
		}})
	s.Reg.Add(&Command{Name: "updateIso", Response: templateResponse, Roles: AllRoles, ResponseKey: "iso",
		Description: "Updates an ISO file.",
		Params:      updateImageParams(true),
		Handler:     func(c *Call) (any, error) { return c.updateImage(isoKind) }})
	s.Reg.Add(&Command{Name: "deleteIso", Response: successResponse, Roles: AllRoles, Async: true,
		Description: "Deletes an ISO file.",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the ISO file"},
			{Name: "zoneid", Type: TUUID, Description: "the ID of the zone of the ISO file. If not specified, the ISO will be deleted from all the zones"},
		},
		Handler: func(c *Call) (any, error) { return c.deleteImage(isoKind) }, Job: successJob})
	s.Reg.Add(&Command{Name: "copyIso", Response: templateResponse, Roles: AllRoles, Async: true, ResponseKey: "iso",
		Description: "Copies an iso from one zone to another.",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "Template ID."},
			{Name: "sourcezoneid", Type: TUUID, Description: "ID of the zone the template is currently hosted on"},
			{Name: "destzoneid", Type: TUUID, Description: "ID of the zone the template is being copied to."},
			{Name: "destzoneids", Type: TList, Elem: "uuid", Description: "A list of IDs of the zones that the template needs to be copied to."},
		},
		Handler: func(c *Call) (any, error) { return c.copyImage(isoKind) }, Job: copyImageJob})
	s.Reg.Add(&Command{Name: "extractIso", Response: extractResponse, Roles: AllRoles, Async: true, ResponseKey: "iso",
		Description: "Extracts an ISO",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the ISO file"},
			{Name: "mode", Type: TString, Required: true, Description: "the mode of extraction - HTTP_DOWNLOAD or FTP_UPLOAD"},
			{Name: "url", Type: TString, Length: 2048, Description: "the URL to which the ISO would be extracted"},
			{Name: "zoneid", Type: TUUID, Description: "the ID of the zone where the ISO is originally located"},
		},
		Handler: func(c *Call) (any, error) { return c.extractImage(isoKind) }, Job: extractImageJob})
	registerIsoAttach(s)
}
