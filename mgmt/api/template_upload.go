package api

import (
	"strings"

	"github.com/atollcloud/atoll/mgmt/orchestrate/template"
)

// registerTemplateUpload registers getUploadParamsForTemplate and getUploadParamsForIso, whose
// parameters are registerTemplate's and registerIso's without the URL (and with one zone).
func registerTemplateUpload(s *Server) {
	var params []Param
	for _, p := range s.Reg.Get("registerTemplate").Params {
		switch p.Name {
		case "url", "zoneids", "directdownload":
			continue
		case "zoneid":
			p.Type, p.Required, p.Description = TUUID, true, "the ID of the zone the template is to be hosted on"
		}
		params = append(params, p)
	}
	s.Reg.Add(&Command{Name: "getUploadParamsForTemplate", Response: uploadParamsResponse, Roles: AllRoles, ResponseKey: "getuploadparams",
		Description: "upload an existing template into the CloudStack cloud.",
		Params:      params,
		Handler: func(c *Call) (any, error) {
			spec, err := c.imageSpec(templateKind, true)
			if err != nil {
				return nil, err
			}
			t, tok, err := template.StartUpload(c.Ctx, c.deps(), c.actor(), templateKind.Kind, spec)
			if err != nil {
				return nil, err
			}
			return Object{Key: "getuploadparams", Value: c.uploadParams(t.ID, tok)}, nil
		}})
	params = []Param{{Name: "format", Type: TString, Required: true, Description: "the format for the ISO: ISO"}}
	for _, p := range s.Reg.Get("registerIso").Params {
		switch p.Name {
		case "account", "bootable", "checksum", "displaytext", "domainid", "isextractable", "isfeatured", "ispublic", "name", "ostypeid", "projectid":
		case "zoneid":
			p.Type, p.Description = TUUID, "the ID of the zone the ISO is to be hosted on"
		default:
			continue
		}
		params = append(params, p)
	}
	s.Reg.Add(&Command{Name: "getUploadParamsForIso", Response: uploadParamsResponse, Roles: AllRoles, ResponseKey: "getuploadparams",
		Description: "upload an existing ISO into the CloudStack cloud.",
		Params:      params,
		Handler: func(c *Call) (any, error) {
			if !strings.EqualFold(c.P.String("format"), "ISO") {
				return nil, ErrParam("Image format: %s is incorrect. An ISO is uploaded with format ISO", c.P.String("format"))
			}
			spec, err := c.imageSpec(isoKind, true)
			if err != nil {
				return nil, err
			}
			t, tok, err := template.StartUpload(c.Ctx, c.deps(), c.actor(), isoKind.Kind, spec)
			if err != nil {
				return nil, err
			}
			return Object{Key: "getuploadparams", Value: c.uploadParams(t.ID, tok)}, nil
		}})
}
