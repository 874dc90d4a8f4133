package api

import (
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/transfer"
	"github.com/atollcloud/atoll/mgmt/orchestrate/volume"
)

func registerVolumeExtract(s *Server) {
	s.Reg.Add(&Command{Name: "extractVolume", Response: extractResponse, Roles: AllRoles, Async: true, ResponseKey: "volume",
		Description: "Extracts volume",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the volume"},
			{Name: "mode", Type: TString, Required: true, Description: "the mode of extraction - HTTP_DOWNLOAD or FTP_UPLOAD"},
			{Name: "zoneid", Type: TUUID, Required: true, Description: "the ID of the zone where the volume is located"},
			{Name: "url", Type: TString, Length: 2048, Description: "the url to which the volume would be extracted"},
		},
		Handler: extractVolumeStart, Job: extractVolumeJob})
}

func extractVolumeStart(c *Call) (any, error) {
	if err := c.checkExtract(c.P.String("mode")); err != nil {
		return nil, err
	}
	c.P[extractBaseParam] = c.baseURL()
	jobID, volID, err := volume.StartExtract(c.Ctx, c.deps(), c.actor(), c.P.String("id"), strings.ToLower(c.P.String("zoneid")))
	return c.volJobStarted(jobID, volID, err)
}

// extractVolumeJob has a host copy the volume to an image store and answers a signed URL
// that streams the copy (transfer_http.go).
func extractVolumeJob(c *Call, j *db.Job) (any, error) {
	x, err := volume.Extract(c.Ctx, c.deps(), c.actor(), j.InstanceID, strings.ToLower(c.P.String("zoneid")))
	if err != nil {
		return nil, err
	}
	v := x.Volume
	url, err := c.extractURL(transfer.Token{Kind: transfer.KindVolume, ID: v.ID, StoreID: x.StoreID, Path: x.Path}, v.ID+".qcow2")
	if err != nil {
		return nil, err
	}
	m := extractObject(v.ID, v.Name, v.ZoneID, url)
	set(m, "zonename", v.ZoneName)
	set(m, "accountid", v.AccountID)
	return Object{Key: "volume", Value: m}, nil
}
