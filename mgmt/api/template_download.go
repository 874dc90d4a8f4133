package api

import (
	"context"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/jobs"
	"github.com/atollcloud/atoll/mgmt/orchestrate/template"
)

// SimulatedTemplateSize is the virtual size a simulated download reports.
const SimulatedTemplateSize = template.SimulatedTemplateSize

// registerTemplateDownloads runs the job that downloads a template's copies
// (template.RunDownloadJob) on this server's runner.
func registerTemplateDownloads(s *Server) {
	if s.Jobs != nil {
		s.Jobs.Handle(template.DownloadJobCmd, func(ctx context.Context, j *db.Job) jobs.Outcome {
			return template.RunDownloadJob(ctx, (&Call{Ctx: ctx, S: s}).deps(), j)
		})
	}
}
