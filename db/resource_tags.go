package db

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Tag is a key/value tag on a resource (CloudStack's resource_tags). ResourceType is
// CloudStack's ResourceObjectType name: UserVm, Volume, Snapshot, Template, ISO, Network ...
type Tag struct {
	ID                      string
	Key, Value              string
	ResourceType            string
	ResourceID              string
	AccountID, DomainID     string
	Customer                string
	Created                 int64
	AccountName, DomainName string // joined for rendering
	DomainPath              string
}

const tagCols = `g.id, g.tag_key, COALESCE(g.tag_value,''), g.resource_type, g.resource_id, g.account_id, g.domain_id, COALESCE(g.customer,''),
	g.created, COALESCE(a.name,''), COALESCE(d.name,''), COALESCE(d.path,'')`

const tagFrom = ` FROM resource_tags g` + tagJoins

const tagJoins = ` LEFT JOIN accounts a ON a.id = g.account_id LEFT JOIN domains d ON d.id = g.domain_id`

func scanTag(s interface{ Scan(...any) error }) (*Tag, error) {
	var t Tag
	if err := s.Scan(&t.ID, &t.Key, &t.Value, &t.ResourceType, &t.ResourceID, &t.AccountID, &t.DomainID, &t.Customer, &t.Created,
		&t.AccountName, &t.DomainName, &t.DomainPath); err != nil {
		return nil, err
	}
	return &t, nil
}

// InsertTag stores a tag; the same key on the same resource gives an error IsDuplicate accepts.
func InsertTag(ctx context.Context, q Querier, t *Tag) error {
	_, err := q.ExecContext(ctx, `INSERT INTO resource_tags (id, tag_key, tag_value, resource_type, resource_id, account_id, domain_id,
		customer, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, t.Key, t.Value, t.ResourceType, t.ResourceID, t.AccountID,
		t.DomainID, nullable(t.Customer), t.Created)
	if err != nil {
		return fmt.Errorf("db: insert tag: %w", err)
	}
	return nil
}

func tagPlaceholders(n int) string { return "(?" + strings.Repeat(", ?", n-1) + ")" }

// TagsFor returns the tags of the given resources of one type, by resource id, each list
// ordered by key.
func TagsFor(ctx context.Context, q Querier, resourceType string, ids []string) (map[string][]Tag, error) {
	out := map[string][]Tag{}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := []any{resourceType}
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := q.QueryContext(ctx, "SELECT "+tagCols+" FROM resource_tags g"+forceIndex("resource_tags_key")+tagJoins+" WHERE g.resource_type = ? AND g.resource_id IN "+tagPlaceholders(len(chunk))+
			" ORDER BY g.resource_id, g.tag_key", args...)
		if err != nil {
			return nil, fmt.Errorf("db: tags for %s: %w", resourceType, err)
		}
		list, err := scanAll(rows, "tags for "+resourceType, scanTag)
		if err != nil {
			return nil, err
		}
		for _, t := range list {
			out[t.ResourceID] = append(out[t.ResourceID], *t)
		}
	}
	return out, nil
}

// TagFilterClause returns an SQL condition that keeps the rows whose idColumn names a
// resource of resourceType carrying any of the given tags (CloudStack ORs the tags of a
// list's tags parameter), and its arguments; "" when tags is empty. A tag with an empty value
// matches the key alone.
func TagFilterClause(resourceType, idColumn string, tags map[string]string) (string, []any) {
	if len(tags) == 0 {
		return "", nil
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := []any{resourceType}
	var ors []string
	for _, k := range keys {
		if v := tags[k]; v != "" {
			ors, args = append(ors, "(tag_key = ? AND tag_value = ?)"), append(args, k, v)
		} else {
			ors, args = append(ors, "tag_key = ?"), append(args, k)
		}
	}
	return idColumn + " IN (SELECT resource_id FROM resource_tags WHERE resource_type = ? AND (" + strings.Join(ors, " OR ") + "))", args
}

// TagFilter selects tags for listTags.
type TagFilter struct {
	ResourceType, ResourceID, Key, Value, Customer, Keyword string
	Scope                                                   Scope
	Limit, Offset                                           int
}

// ListTags returns matching tags ordered by resource and key, and the total before paging.
func ListTags(ctx context.Context, q Querier, f TagFilter) ([]*Tag, int, error) {
	w := []string{"1 = 1"}
	var args []any
	for col, v := range map[string]string{"g.resource_type": f.ResourceType, "g.resource_id": f.ResourceID, "g.tag_key": f.Key,
		"g.tag_value": f.Value, "g.customer": f.Customer} {
		if v != "" {
			w, args = append(w, col+" = ?"), append(args, v)
		}
	}
	if f.Keyword != "" {
		k := "%" + LikePrefix(strings.ToLower(f.Keyword))
		w, args = append(w, "(LOWER(g.tag_key) LIKE ?"+LikeEscape+" OR LOWER(g.tag_value) LIKE ?"+LikeEscape+")"), append(args, k, k)
	}
	w, args = f.Scope.apply(w, args, "g.account_id", "d.path")
	where := strings.Join(w, " AND ")
	var total int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+tagFrom+" WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("db: count tags: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT "+tagCols+tagFrom+" WHERE "+where+" ORDER BY g.resource_type, g.resource_id, g.tag_key"+
		page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list tags: %w", err)
	}
	out, err := scanAll(rows, "list tags", scanTag)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// GetTag returns one resource's tag by key; ErrNotFound if it has none.
func GetTag(ctx context.Context, q Querier, resourceType, resourceID, key string) (*Tag, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+tagCols+tagFrom+" WHERE g.resource_type = ? AND g.resource_id = ? AND g.tag_key = ?",
		resourceType, resourceID, key)
	if err != nil {
		return nil, fmt.Errorf("db: get tag: %w", err)
	}
	list, err := scanAll(rows, "get tag", scanTag)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return list[0], nil
}

// DeleteTag deletes one tag by id; ErrConflict if it is already gone.
func DeleteTag(ctx context.Context, q Querier, id string) error {
	res, err := q.ExecContext(ctx, "DELETE FROM resource_tags WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("db: delete tag: %w", err)
	}
	return expectOne(res)
}

// DeleteTagsOf deletes every tag of a resource (when the resource itself goes away).
func DeleteTagsOf(ctx context.Context, q Querier, resourceType, resourceID string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM resource_tags WHERE resource_type = ? AND resource_id = ?", resourceType, resourceID); err != nil {
		return fmt.Errorf("db: delete tags of %s %s: %w", resourceType, resourceID, err)
	}
	return nil
}
