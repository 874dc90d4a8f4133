package api

import (
	"fmt"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/template"
	"github.com/google/uuid"
)

// copyImage starts copying a template or ISO into the image stores of other zones: the
// copies are recorded (downloading) in the handler's transaction with the job, which waits
// for them.
func (c *Call) copyImage(k imageKind) (any, error) {
	var dest []string
	if z := strings.ToLower(c.P.String("destzoneid")); z != "" {
		dest = append(dest, z)
	}
	for _, z := range c.P.List("destzoneids") {
		dest = append(dest, strings.ToLower(z))
	}
	if len(dest) == 0 {
		return nil, ErrParam("Please specify valid destination zone to copy the %s.", k.Noun)
	}
	jobID, t, err := template.StartCopy(c.Ctx, c.deps(), c.actor(), k.Kind, c.P.String("id"),
		template.CopySpec{SourceZoneID: strings.ToLower(c.P.String("sourcezoneid")), DestZoneIDs: dest})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: t.ID}, nil
}

// copyImageJob waits for the copies to land and answers the template in the first
// destination zone.
func copyImageJob(c *Call, j *db.Job) (any, error) {
	k := imageKindOf(j.InstanceType)
	if err := template.Wait(c.Ctx, c.deps(), j.InstanceID); err != nil {
		return nil, err
	}
	dest := strings.ToLower(c.P.String("destzoneid"))
	if dest == "" {
		if l := c.P.List("destzoneids"); len(l) > 0 {
			dest = strings.ToLower(l[0])
		}
	}
	items, err := c.imageItems(k, db.TemplateFilter{ID: j.InstanceID, ZoneID: dest})
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, ErrInternal("Failed to copy %s", k.Noun)
	}
	m := items[0].(map[string]any)
	if m["isready"] != true {
		return nil, ErrInternal("Failed to copy %s: %v", k.Noun, m["status"])
	}
	return Object{Key: k.key, Value: m}, nil
}

// extractBaseParam carries the management server's address from the request into the job.
const extractBaseParam = "atoll.extractbase"

// extractImage checks an extraction and starts its job. On the Simulator nothing is stored,
// so the answer is CloudStack's shape with a URL under this management server, which does not
// serve the file yet.
func (c *Call) extractImage(k imageKind) (any, error) {
	mode := strings.ToUpper(c.P.String("mode"))
	switch mode {
	case "HTTP_DOWNLOAD":
	case "FTP_UPLOAD":
		return nil, ErrParam("FTP_UPLOAD mode is not supported: use HTTP_DOWNLOAD")
	default:
		return nil, ErrParam("Please specify a valid extract Mode. Supported modes: HTTP_DOWNLOAD, FTP_UPLOAD")
	}
	// The job answers a URL under this management server as the caller reached it.
	c.P[extractBaseParam] = c.baseURL()
	jobID, t, err := template.StartExtract(c.Ctx, c.deps(), c.actor(), k.Kind, c.P.String("id"), strings.ToLower(c.P.String("zoneid")))
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: t.ID}, nil
}

// baseURL is this management server's address as the caller reached it.
func (c *Call) baseURL() string {
	if c.Req == nil {
		return "http://localhost:8080"
	}
	scheme := "http"
	if c.Req.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Req.Host
}

func extractImageJob(c *Call, j *db.Job) (any, error) {
	k := imageKindOf(j.InstanceType)
	t, cp, err := template.Extract(c.Ctx, c.deps(), k.Kind, j.InstanceID, strings.ToLower(c.P.String("zoneid")))
	if err != nil {
		return nil, err
	}
	extractID := uuid.NewString()
	base := c.P.String(extractBaseParam)
	m := map[string]any{"id": t.ID, "name": t.Name, "extractId": extractID, "extractMode": "HTTP_DOWNLOAD", "state": "DOWNLOAD_URL_CREATED",
		"status": "DOWNLOAD_URL_CREATED", "uploadpercentage": 100, "storagetype": "SecondaryStorage", "zoneid": cp.ZoneID,
		"url": fmt.Sprintf("%s/client/extract/%s/%s.%s", base, extractID, t.ID, template.FileExtension(t.Format)), "created": FormatTime(db.Now())}
	if z, err := db.GetZone(c.Ctx, c.S.DB.Read(), cp.ZoneID); err == nil {
		m["zonename"] = z.Name
	}
	set(m, "accountid", t.AccountID)
	return Object{Key: k.key, Value: m}, nil
}

// imageKindOf is the kind of a job's instance type.
func imageKindOf(instanceType string) imageKind {
	if instanceType == isoKind.ResType {
		return isoKind
	}
	return templateKind
}
