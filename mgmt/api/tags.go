package api

// Tags on every list CloudStack filters by tags, in three steps:
//
//	Params: withScope(..., tagsListParam)                       // declares tags[i].key / tags[i].value
//	clause, args := db.TagFilterClause("UserVm", "v.id", c.tagsParam()) // "" when no tags: add to WHERE
//	err := c.attachTags("UserVm", ids, items)                   // every item gets "tags": [...]
//
// and each family registers the types it owns with RegisterTaggable, so that createTags
// checks the resource exists and the caller may act on its owner.

import (
	"errors"
	"sort"
	"strings"
	"sync"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/google/uuid"
)

// Event types for tags (CloudStack's EventTypes.EVENT_TAGS_CREATE / EVENT_TAGS_DELETE).
const (
	evTagsCreate = "CREATE_TAGS"
	evTagsDelete = "DELETE_TAGS"
)

// TagOwner finds the owner of a taggable resource by id (a uuid); it answers db.ErrNotFound
// when there is no such live resource. An empty accountID means the system owns it.
type TagOwner func(c *Call, q db.Querier, id string) (accountID, domainID string, err error)

var taggables = struct {
	sync.RWMutex
	m map[string]taggable // by lower-case type name
}{m: map[string]taggable{}}

type taggable struct {
	name  string
	owner TagOwner
}

// RegisterTaggable makes a resource type (CloudStack's ResourceObjectType name: UserVm,
// Volume, Snapshot, Template, ISO, Network ...) taggable by createTags, with owner telling
// who owns a resource of that type. Each family registers its own types, once.
func RegisterTaggable(resourceType string, owner TagOwner) {
	taggables.Lock()
	defer taggables.Unlock()
	taggables.m[strings.ToLower(resourceType)] = taggable{name: resourceType, owner: owner}
}

// lookupTaggable matches a resource type case-insensitively, as CloudStack does.
func lookupTaggable(resourceType string) (taggable, bool) {
	taggables.RLock()
	defer taggables.RUnlock()
	t, ok := taggables.m[strings.ToLower(resourceType)]
	return t, ok
}

// canonicalResourceType returns the registered spelling of a resource type, or s unchanged.
func canonicalResourceType(s string) string {
	if t, ok := lookupTaggable(s); ok {
		return t.name
	}
	return s
}

// tagsParam parses a list's or command's tags map (tags[0].key=k&tags[0].value=v): key ->
// value. Entries without a key are ignored.
func (c *Call) tagsParam() map[string]string {
	return c.mapParam("tags")
}

func (c *Call) mapParam(name string) map[string]string {
	out := map[string]string{}
	for _, m := range c.P.Map(name) {
		if k := m["key"]; k != "" {
			out[k] = m["value"]
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// renderTags gives CloudStack's tag objects; always a list (empty when none), since modules
// test for the key.
func renderTags(tags []db.Tag) []any {
	out := make([]any, 0, len(tags))
	for i := range tags {
		out = append(out, renderTag(&tags[i]))
	}
	return out
}

func renderTag(t *db.Tag) map[string]any {
	m := map[string]any{"key": t.Key, "value": t.Value, "resourcetype": t.ResourceType, "resourceid": t.ResourceID,
		"domainid": t.DomainID}
	set(m, "account", t.AccountName)
	set(m, "domain", t.DomainName)
	set(m, "domainpath", t.DomainPath)
	set(m, "customer", t.Customer)
	return m
}

// tagParams are the list-filter parameter of every list CloudStack filters by tags.
var tagsListParam = Param{Name: "tags", Type: TMap, Description: "List resources by tags (key/value pairs)"}

func registerTags(s *Server) {
	s.Reg.Add(&Command{Name: "createTags", Response: successResponse, Roles: AllRoles, Async: true,
		Description: "Creates resource tag(s)",
		Params: []Param{
			{Name: "resourceids", Type: TList, Required: true, Description: "list of resources to create the tags for"},
			{Name: "resourcetype", Type: TString, Required: true, Description: "type of the resource"},
			{Name: "tags", Type: TMap, Required: true, Description: "Map of tags (key/value pairs)"},
			{Name: "customer", Type: TString, Description: "identifies client specific tag. When the value is not null, the tag can't be used by cloudStack code internally"},
		},
		Handler: createTags, Job: successJob})
	s.Reg.Add(&Command{Name: "deleteTags", Response: successResponse, Roles: AllRoles, Async: true,
		Description: "Deleting resource tag(s)",
		Params: []Param{
			{Name: "resourceids", Type: TList, Required: true, Description: "Delete tags for resource id(s)"},
			{Name: "resourcetype", Type: TString, Required: true, Description: "Delete tag by resource type"},
			{Name: "tags", Type: TMap, Description: "Delete tags matching key/value pairs"},
		},
		Handler: deleteTags, Job: successJob})
	s.Reg.Add(&Command{Name: "listTags", Response: tagResponse, Roles: AllRoles, List: true, ResponseKey: "tag",
		Description: "List resource tag(s)",
		Params: withScope(
			Param{Name: "resourcetype", Type: TString, Description: "list by resource type"},
			Param{Name: "resourceid", Type: TString, Description: "list by resource id"},
			Param{Name: "key", Type: TString, Description: "list by key"},
			Param{Name: "value", Type: TString, Description: "list by value"},
			Param{Name: "customer", Type: TString, Description: "list by customer name"},
			Param{Name: "projectid", Type: TUUID, Description: "list objects by project (projects are not supported: refused)"},
		),
		Handler: listTags})
}

// successJob is the job of an async command whose change was made, with its job row, in
// the handler's transaction.
func successJob(c *Call, j *db.Job) (any, error) { return Success(), nil }

// tagResource is a resource named by createTags/deleteTags, with its owner.
type tagResource struct {
	id, raw, accountID, domainID string // raw: the id as the caller sent it
}

// tagResources resolves resourceids of a type and checks the caller may tag each.
func (c *Call) tagResources(q db.Querier, t taggable, what string) ([]tagResource, error) {
	var out []tagResource
	for _, raw := range c.P.List("resourceids") {
		id := strings.ToLower(raw)
		acct, dom, err := t.owner(c, q, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil, ErrParam("Unable to find resource by id %s and type %s", raw, t.name)
		}
		if err != nil {
			return nil, err
		}
		if err := c.checkOwnerAccess(q, id, acct, dom); err != nil {
			return nil, ErrDenied("Account '%s' doesn't have permissions to %s tags for resource '%s'.", c.Caller.User.AccountName, what, raw)
		}
		out = append(out, tagResource{id: id, raw: raw, accountID: acct, domainID: dom})
	}
	if len(out) == 0 {
		return nil, ErrMissing(c.Cmd.Name, "resourceids")
	}
	return out, nil
}

// checkOwnerAccess answers an error unless the caller may act on resourceID, which accountID
// owns; the system's resources (accountID "") only root admins may. The error names only
// resourceID, the id the caller sent: never the owner (CloudStack's DomainChecker answers
// "Caller does not have permission to operate with provided resource." and logs the owner).
func (c *Call) checkOwnerAccess(q db.Querier, resourceID, accountID, domainID string) error {
	return orchestrate.CheckOwnerAccess(c.Ctx, q, c.Caller, resourceID, accountID, domainID)
}

func createTags(c *Call) (any, error) {
	t, ok := lookupTaggable(c.P.String("resourcetype"))
	if !ok {
		return nil, ErrParam("Invalid resource type %s", c.P.String("resourcetype"))
	}
	tags := c.tagsParam()
	if len(tags) == 0 {
		return nil, ErrMissing(c.Cmd.Name, "tags")
	}
	keys := make([]string, 0, len(tags))
	for k, v := range tags {
		if v == "" {
			return nil, ErrParam("Value for the key %s is either null or empty", k)
		}
		if len(k) > 255 || len(v) > 255 {
			return nil, ErrParam("Tag key and value are limited to 255 characters")
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	customer := c.P.String("customer")
	var jobID string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		res, err := c.tagResources(tx, t, "create")
		if err != nil {
			return err
		}
		now := db.Now()
		for _, k := range keys {
			for _, r := range res {
				err := db.InsertTag(c.Ctx, tx, &db.Tag{ID: uuid.NewString(), Key: k, Value: tags[k], ResourceType: t.name, ResourceID: r.id,
					AccountID: r.accountID, DomainID: r.domainID, Customer: customer, Created: now})
				if db.IsDuplicate(err) {
					// CloudStack's words (TaggedResourceManagerImpl.createTags); it answers
					// 530, but the key is the caller's mistake: 431, and the transaction
					// rolls back every tag this call inserted.
					return ErrParam("tag %s already on %s with id %s", k, t.name, r.raw)
				}
				if err != nil {
					return err
				}
			}
		}
		if err := c.Event(tx, evTagsCreate, "creating resource tags", t.name, res[0].id); err != nil {
			return err
		}
		jobID, err = c.EnqueueJob(tx, "None", "")
		return err
	})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID}, nil
}

func deleteTags(c *Call) (any, error) {
	t, ok := lookupTaggable(c.P.String("resourcetype"))
	if !ok {
		return nil, ErrParam("Invalid resource type %s", c.P.String("resourcetype"))
	}
	want := c.tagsParam()
	var jobID string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		// Every id must name a resource of the type the caller may act on (CloudStack does not
		// check, and answers a 530 "Failed to delete tags" for an id that matches nothing).
		res, err := c.tagResources(tx, t, "delete")
		if err != nil {
			return err
		}
		ids := make([]string, 0, len(res))
		for _, r := range res {
			ids = append(ids, r.id)
		}
		have, err := db.TagsFor(c.Ctx, tx, t.name, ids)
		if err != nil {
			return err
		}
		var doomed []db.Tag
		for _, id := range ids {
			for _, tag := range have[id] {
				if tagMatches(tag, want) {
					doomed = append(doomed, tag)
				}
			}
		}
		if len(doomed) == 0 {
			// CloudStack's DeleteTagsCmd answers this as a 530; it is the caller's mistake.
			return ErrParam("Failed to delete tags: no tag of the resources in resourceids matches tags")
		}
		for _, tag := range doomed {
			if tag.AccountID != c.Caller.User.AccountID {
				if err := c.checkOwnerAccess(tx, tag.ResourceID, tag.AccountID, tag.DomainID); err != nil {
					return err
				}
			}
		}
		for _, tag := range doomed {
			if err := db.DeleteTag(c.Ctx, tx, tag.ID); err != nil {
				return err
			}
		}
		if err := c.Event(tx, evTagsDelete, "deleting resource tags", t.name, doomed[0].ResourceID); err != nil {
			return err
		}
		jobID, err = c.EnqueueJob(tx, "None", "")
		return err
	})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID}, nil
}

// tagMatches applies deleteTags' selection: no tags deletes all; otherwise a tag goes when
// its key matches one asked for (case-insensitively) and, if a value was given, its value too.
func tagMatches(tag db.Tag, want map[string]string) bool {
	if len(want) == 0 {
		return true
	}
	for k, v := range want {
		if strings.EqualFold(tag.Key, k) && (v == "" || strings.EqualFold(tag.Value, v)) {
			return true
		}
	}
	return false
}

func listTags(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	scope, err := c.ListScope()
	if err != nil {
		return nil, err
	}
	f := db.TagFilter{ResourceType: canonicalResourceType(c.P.String("resourcetype")), ResourceID: strings.ToLower(c.P.String("resourceid")),
		Key: c.P.String("key"), Value: c.P.String("value"), Customer: c.P.String("customer"), Keyword: c.P.String("keyword"), Scope: scope}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListTags(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, t := range list {
		items = append(items, renderTag(t))
	}
	return ListResult{Key: "tag", Items: items, Count: total}, nil
}

// attachTags loads the tags of the listed resources of one type and sets each rendered
// item's "tags" (always present). ids and items are parallel.
func (c *Call) attachTags(resourceType string, ids []string, items []map[string]any) error {
	tags, err := db.TagsFor(c.Ctx, c.S.DB.Read(), resourceType, ids)
	if err != nil {
		return err
	}
	for i, m := range items {
		m["tags"] = renderTags(tags[ids[i]])
	}
	return nil
}
