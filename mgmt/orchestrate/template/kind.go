package template

// Event types for templates and ISOs (CloudStack's EventTypes).
const (
	EvTemplateCreate  = "TEMPLATE.CREATE"
	EvTemplateDelete  = "TEMPLATE.DELETE"
	EvTemplateUpdate  = "TEMPLATE.UPDATE"
	EvTemplateCopy    = "TEMPLATE.COPY"
	EvTemplateExtract = "TEMPLATE.EXTRACT"
	EvISOCreate       = "ISO.CREATE"
	EvISODelete       = "ISO.DELETE"
	EvISOUpdate       = "ISO.UPDATE"
	EvISOCopy         = "ISO.COPY"
	EvISOExtract      = "ISO.EXTRACT"
)

// Kind is what differs between templates and ISOs in the workflows they share.
type Kind struct {
	ISO       bool
	Noun      string // "template" or "iso", in error messages
	ResType   string // resource type for tags, events and jobs
	EvCreate  string
	EvDelete  string
	EvUpdate  string
	EvCopy    string
	EvExtract string
}

var (
	// TemplateKind is a template's Kind.
	TemplateKind = Kind{Noun: "template", ResType: "Template", EvCreate: EvTemplateCreate, EvDelete: EvTemplateDelete,
		EvUpdate: EvTemplateUpdate, EvCopy: EvTemplateCopy, EvExtract: EvTemplateExtract}
	// ISOKind is an ISO's Kind.
	ISOKind = Kind{ISO: true, Noun: "iso", ResType: "ISO", EvCreate: EvISOCreate, EvDelete: EvISODelete,
		EvUpdate: EvISOUpdate, EvCopy: EvISOCopy, EvExtract: EvISOExtract}
)

// KindOf is the Kind of a job's instance type ("ISO" or "Template").
func KindOf(instanceType string) Kind {
	if instanceType == ISOKind.ResType {
		return ISOKind
	}
	return TemplateKind
}

// Formats are CloudStack's Storage.ImageFormat values a template may have.
var Formats = []string{"QCOW2", "RAW", "VHD", "VHDX", "OVA", "VMDK", "TAR", "ZIP", "DIR", "VDI", "BAREMETAL"}

// FileExtension is the extension of an image file of a format (the format in lower case).
func FileExtension(format string) string {
	b := []byte(format)
	for i, ch := range b {
		if ch >= 'A' && ch <= 'Z' {
			b[i] = ch + 'a' - 'A'
		}
	}
	return string(b)
}
