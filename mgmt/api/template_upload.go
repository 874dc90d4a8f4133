package api

import (
	"github.com/atollcloud/atoll/mgmt/orchestrate/template"
)

// registerTemplateUpload registers getUploadParamsForTemplate, whose parameters are
// registerTemplate's without the URL (and with one zone).
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
}
