package hypervisor

import "context"

// ISOChanger is implemented by drivers that change the media in a running VM's CD-ROM drive
// (CloudStack's attachIso and detachIso): iso is the new ISO, nil ejects the one there. A VM
// that is not running has nothing to change on the host: its next start takes the ISO from
// its spec. Putting in the ISO already there, or ejecting an empty drive, succeeds.
type ISOChanger interface {
	ChangeISO(ctx context.Context, vm string, iso *DiskSource) error
}
