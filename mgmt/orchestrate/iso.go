package orchestrate

import (
	"context"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
)

// ISOSource finds an ISO's file on a secondary store of the zone, for a real host to put in a
// VM's CD-ROM drive.
func ISOSource(ctx context.Context, q db.Querier, isoID, zoneID string) (*protocol.ImageFileRef, error) {
	return templateSource(ctx, q, isoID, zoneID)
}
