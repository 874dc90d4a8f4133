package api

import (
	"errors"
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
	src := strings.ToLower(c.P.String("sourcezoneid"))
	var id, jobID string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		t, err := c.imageByID(tx, k, c.P.String("id"))
		if err != nil {
			return err
		}
		id = t.ID
		if err := c.checkImageOperate(tx, k, t); err != nil {
			return err
		}
		if t.TemplateType == db.TemplateSystem {
			return ErrParam("Unable to copy the system %s %s", k.Noun, t.Name)
		}
		if src != "" {
			if _, err := db.GetZone(c.Ctx, tx, src); errors.Is(err, db.ErrNotFound) {
				return ErrParam("Please specify a valid source zone.")
			} else if err != nil {
				return err
			}
			ready, err := db.TemplateReadyInZone(c.Ctx, tx, t.ID, src)
			if err != nil {
				return err
			}
			if !ready {
				return ErrParam("Please specify a %s that is installed on secondary storage host in zone %s", k.Noun, src)
			}
		} else {
			copies, err := db.ListTemplateCopies(c.Ctx, tx, t.ID, "")
			if err != nil {
				return err
			}
			ok := false
			for _, cp := range copies {
				ok = ok || cp.DownloadState == db.DownloadDone
			}
			if !ok {
				return ErrParam("Unable to find a secondary storage host that has the %s %s ready", k.Noun, t.ID)
			}
		}
		var zones []*db.Zone
		for _, z := range dest {
			if z == src {
				return ErrParam("Please specify different source and destination zones.")
			}
			zone, err := db.GetZone(c.Ctx, tx, z)
			if errors.Is(err, db.ErrNotFound) {
				return ErrParam("Please specify a valid destination zone.")
			}
			if err != nil {
				return err
			}
			if zone.AllocationState == "Disabled" && !c.Caller.IsRootAdmin() {
				return ErrDenied("Cannot perform this operation, Zone %s is currently disabled", zone.Name)
			}
			zones = append(zones, zone)
		}
		if _, err := c.addImageCopies(tx, t, zones); err != nil {
			return err
		}
		for _, z := range zones {
			cs, err := db.ListTemplateCopies(c.Ctx, tx, t.ID, z.ID)
			if err != nil {
				return err
			}
			if len(cs) == 0 {
				return ErrInternal("Unable to find image store in zone %s to copy the %s to", z.Name, k.Noun)
			}
		}
		if err := c.Event(tx, k.EvCopy, fmt.Sprintf("copying %s %s", k.Noun, t.Name), k.ResType, t.ID); err != nil {
			return err
		}
		jobID, err = c.EnqueueJob(tx, k.ResType, t.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: id}, nil
}

// checkImageOperate is CloudStack's OperateEntry access to a template (template.CheckOperate).
func (c *Call) checkImageOperate(q db.Querier, k imageKind, t *db.Template) error {
	return template.CheckOperate(c.Ctx, q, c.Caller, k.Kind, t)
}

// copyImageJob waits for the copies to land and answers the template in the first
// destination zone.
func copyImageJob(c *Call, j *db.Job) (any, error) {
	k := templateKind
	if j.InstanceType == isoKind.ResType {
		k = isoKind
	}
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
	var id, jobID string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		t, err := c.imageByID(tx, k, c.P.String("id"))
		if err != nil {
			return err
		}
		id = t.ID
		if t.TemplateType == db.TemplateSystem || t.TemplateType == db.TemplateBuiltin {
			return ErrParam("Unable to extract the %s %s as it is a default System %s", k.Noun, t.Name, k.Noun)
		}
		// TemplateManagerImpl.extract: only a root admin bypasses isextractable=false (checked
		// before access, as CloudStack does), then OperateEntry access to the template.
		if !t.Extractable && !c.Caller.IsRootAdmin() {
			return ErrParam("Unable to extract %s id=%s as it's not extractable", k.Noun, t.ID)
		}
		if err := c.checkImageOperate(tx, k, t); err != nil {
			return err
		}
		zoneID := strings.ToLower(c.P.String("zoneid"))
		if zoneID != "" {
			if _, err := db.GetZone(c.Ctx, tx, zoneID); errors.Is(err, db.ErrNotFound) {
				return ErrParam("Please specify a valid zone.")
			} else if err != nil {
				return err
			}
		}
		copies, err := db.ListTemplateCopies(c.Ctx, tx, t.ID, zoneID)
		if err != nil {
			return err
		}
		ready := false
		for _, cp := range copies {
			ready = ready || cp.DownloadState == db.DownloadDone
		}
		if !ready {
			return ErrParam("The %s %s is not ready in any image store of the zone: it cannot be extracted", k.Noun, t.ID)
		}
		if err := c.Event(tx, k.EvExtract, fmt.Sprintf("extracting %s %s", k.Noun, t.Name), k.ResType, t.ID); err != nil {
			return err
		}
		c.P[extractBaseParam] = c.baseURL()
		jobID, err = c.EnqueueJob(tx, k.ResType, t.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: id}, nil
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
	k := templateKind
	if j.InstanceType == isoKind.ResType {
		k = isoKind
	}
	t, err := c.imageByID(c.S.DB.Read(), k, j.InstanceID)
	if err != nil {
		return nil, err
	}
	zoneID := strings.ToLower(c.P.String("zoneid"))
	copies, err := db.ListTemplateCopies(c.Ctx, c.S.DB.Read(), t.ID, zoneID)
	if err != nil {
		return nil, err
	}
	var cp *db.TemplateCopy
	for _, x := range copies {
		if x.DownloadState == db.DownloadDone {
			cp = x
			break
		}
	}
	if cp == nil {
		return nil, ErrInternal("The %s %s is no longer ready to extract", k.Noun, t.ID)
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
