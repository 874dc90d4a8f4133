package protocol

// ISO commands (CloudStack's AttachCommand and DettachCommand for an ISO): change the media
// in a running VM's CD-ROM drive. Part of protocol version 1: an older agent answers them as
// unknown commands.
const (
	CmdAttachISO = "AttachIso" // body ISOCommand with ISO set
	CmdDetachISO = "DetachIso" // body ISOCommand; ISO, when set, is the one to take out
)

// ISOCommand names a VM and the ISO on secondary storage to put in (or take out of) its
// CD-ROM drive.
type ISOCommand struct {
	VM  string        `json:"vm"`
	ISO *ImageFileRef `json:"iso,omitempty"`
}
