package api

import (
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/orchestrate/template"
	"github.com/atollcloud/atoll/mgmt/orchestrate/transfer"
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

// extractImage checks an extraction and starts its job. The job answers a signed URL under
// this management server (as the caller reached it) which streams the file from its image
// store until the URL expires (transfer_http.go).
func (c *Call) extractImage(k imageKind) (any, error) {
	if err := c.checkExtract(c.P.String("mode")); err != nil {
		return nil, err
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

// checkExtract refuses extraction when an admin disabled it (disable.extraction), and checks
// the mode: CloudStack's HTTP_DOWNLOAD; FTP_UPLOAD (pushing the file to the caller's FTP
// server) is refused.
func (c *Call) checkExtract(mode string) error {
	if v, _ := c.S.Config.Get(c.Ctx, config.Global, "", "disable.extraction"); strings.EqualFold(v, "true") {
		return ErrDenied("Extraction has been disabled by admin")
	}
	switch strings.ToUpper(mode) {
	case "HTTP_DOWNLOAD":
		return nil
	case "FTP_UPLOAD":
		return ErrParam("FTP_UPLOAD mode is not supported: use HTTP_DOWNLOAD")
	}
	return ErrParam("Please specify a valid extract Mode. Supported modes: HTTP_DOWNLOAD, FTP_UPLOAD")
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
	url, err := c.extractURL(transfer.Token{Kind: transfer.KindTemplate, ID: t.ID, StoreID: cp.StoreID, Path: cp.InstallPath},
		t.ID+"."+template.FileExtension(t.Format))
	if err != nil {
		return nil, err
	}
	m := extractObject(t.ID, t.Name, cp.ZoneID, url)
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
