package api

import "strings"

// Response field types, as CloudStack's listApis names them: the simple name of the Java type
// of the response class's field, lower-cased. A nested response object is "list" or "set"
// (a collection of them) or its class name (one of them); a few fields have an enum's name
// (a JSON string, see FieldKind).
const (
	rString = "string"
	rDate   = "date" // java.util.Date: rendered as a string, 2024-01-01T00:00:00+0000
	rLong   = "long"
	rInt    = "integer" // java.lang.Integer
	rPInt   = "int"     // a primitive int field
	rShort  = "short"
	rBool   = "boolean"
	rDouble = "double"
	rFloat  = "float"
	rList   = "list"
	rSet    = "set"
	rMap    = "map"
	rObject = "object"
)

// FieldKind is the JSON kind a value of a response field's type renders as: "string",
// "number", "boolean", "array" or "object" ("" for a type it does not know).
func FieldKind(typ string) string {
	switch typ {
	case rString, rDate:
		return "string"
	case rLong, rInt, rPInt, rShort, rDouble, rFloat:
		return "number"
	case rBool:
		return "boolean"
	case rList, rSet:
		return "array"
	case rMap, rObject, "responseobject":
		return "object"
	}
	if _, ok := enumTypes[typ]; ok {
		return "string"
	}
	if strings.HasSuffix(typ, "response") {
		return "object"
	}
	return ""
}

// enumTypes are the Java enums CloudStack's response classes give some fields (a field of
// enum type renders as the constant's name).
var enumTypes = map[string]struct{}{
	"status":         {}, // HostResponse.state (com.cloud.host.Status)
	"type":           {}, // HostResponse.type (Host.Type)
	"hypervisortype": {}, // HostResponse.hypervisor
	"imageformat":    {}, // TemplateResponse.format
}

// f declares one response field.
func f(name, typ, description string) Field {
	return Field{Name: name, Type: typ, Description: description}
}

// nested declares a field holding a response object, or a list or set of them, with the
// nested object's own fields.
func nested(name, typ, description string, fields ...Field) Field {
	return Field{Name: name, Type: typ, Description: description, Fields: fields}
}

// join concatenates field groups into one table.
func join(groups ...[]Field) []Field {
	var out []Field
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// jobFields are BaseResponse's: every top-level response object carries them.
var jobFields = []Field{
	f("jobid", rString, "the id of the latest asynchronous job that acted on this object"),
	f("jobstatus", rInt, "the status of that job: 0 pending, 1 succeeded, 2 failed"),
}

// successResponse is CloudStack's SuccessResponse, the answer of deletes and other commands
// that return no object.
var successResponse = join(jobFields, []Field{
	f("success", rBool, "true when the command succeeded"),
	f("displaytext", rString, "a message about the outcome, if any"),
})

// owner are the fields naming the account and domain that own a resource.
func owner(noun string) []Field {
	return []Field{
		f("account", rString, "the name of the account that owns the "+noun),
		f("domainid", rString, "the id of the domain of the "+noun+"'s owner"),
		f("domain", rString, "the name of the domain of the "+noun+"'s owner"),
		f("domainpath", rString, "the path of the domain of the "+noun+"'s owner"),
	}
}

// inZone are the zoneid and zonename fields.
func inZone(noun string) []Field {
	return []Field{
		f("zoneid", rString, "the id of the "+noun+"'s zone"),
		f("zonename", rString, "the name of the "+noun+"'s zone"),
	}
}

// tagFields are ResourceTagResponse's.
var tagFields = []Field{
	f("key", rString, "the tag's key"),
	f("value", rString, "the tag's value"),
	f("resourcetype", rString, "the type of the tagged resource"),
	f("resourceid", rString, "the id of the tagged resource"),
	f("account", rString, "the account that owns the tag"),
	f("domainid", rString, "the id of the tag owner's domain"),
	f("domain", rString, "the name of the tag owner's domain"),
	f("domainpath", rString, "the path of the tag owner's domain"),
	f("customer", rString, "the customer the tag belongs to"),
	f("project", rString, "the name of the project that owns the tag"),
	f("projectid", rString, "the id of the project that owns the tag"),
}

// tags is the tags field of a resource (type "set" in classes built on
// BaseResponseWithTagInformation, "list" in the others).
func tags(typ, noun string) Field {
	return nested("tags", typ, "the resource tags of the "+noun, tagFields...)
}

// hasAnnotations is BaseResponseWithAnnotations's field.
func hasAnnotations(noun string) Field {
	return f("hasannotations", rBool, "whether comments have been added to the "+noun)
}
