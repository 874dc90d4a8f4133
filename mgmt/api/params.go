package api

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Params are a request's parameters, first value of each key.
type Params map[string]string

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsUUID reports whether s has the form of a UUID.
func IsUUID(s string) bool { return uuidRE.MatchString(s) }

// normalizeKey lower-cases a parameter name but keeps map sub-keys as sent:
// "Details[0].cpuNumber" becomes "details[0].cpuNumber".
func normalizeKey(k string) string {
	if i := strings.IndexByte(k, '['); i >= 0 {
		return strings.ToLower(k[:i]) + k[i:]
	}
	return strings.ToLower(k)
}

// validate checks every declared parameter that was sent and every required one.
func (c *Command) validate(p Params) error {
	for _, d := range c.Params {
		v, ok := p[d.Name]
		if !ok {
			if d.Type == TMap && p.hasMap(d.Name) {
				continue
			}
			if d.Required {
				return ErrMissing(c.Name, d.Name)
			}
			continue
		}
		if d.Required && strings.TrimSpace(v) == "" {
			return ErrMissing(c.Name, d.Name)
		}
		if d.Length > 0 && len(v) > d.Length {
			return ErrInvalid(c.Name, d.Name, v, "its length exceeding the limit of "+strconv.Itoa(d.Length)+" characters")
		}
		switch d.Type {
		case TBool:
			if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
				return ErrInvalid(c.Name, d.Name, v, "incorrect boolean value format (want true or false)")
			}
		case TInt, TShort:
			if _, err := strconv.ParseInt(v, 10, 32); err != nil {
				return ErrInvalid(c.Name, d.Name, v, "incorrect integer value format")
			}
		case TLong:
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return ErrInvalid(c.Name, d.Name, v, "incorrect long value format")
			}
		case TUUID:
			if v != "" && !IsUUID(v) {
				return ErrInvalid(c.Name, d.Name, v, "incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class")
			}
		case TDate:
			if _, err := ParseDate(v); err != nil {
				return ErrInvalid(c.Name, d.Name, v, "incorrect date value format (want yyyy-MM-dd or yyyy-MM-dd HH:mm:ss)")
			}
		case TList:
			if d.Elem == "uuid" {
				for _, e := range p.List(d.Name) {
					if !IsUUID(e) {
						return ErrInvalid(c.Name, d.Name, e, "incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class")
					}
				}
			}
		}
	}
	if v, ok := p["pagesize"]; ok {
		if n, _ := strconv.Atoi(v); n < 1 && n != -1 {
			return ErrParam("Page size should be greater than 0")
		}
	}
	if v, ok := p["page"]; ok {
		if n, _ := strconv.Atoi(v); n < 1 {
			return ErrParam("Page should be greater than 0")
		}
	}
	return nil
}

// ParseDate accepts CloudStack's date parameter forms.
func ParseDate(v string) (time.Time, error) {
	var err error
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05-0700", "2006-01-02"} {
		var t time.Time
		if t, err = time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

func (p Params) has(k string) bool { _, ok := p[k]; return ok }

func (p Params) hasMap(name string) bool {
	prefix := name + "["
	for k := range p {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// String returns a parameter's value or "".
func (p Params) String(k string) string { return p[k] }

// Has reports whether a parameter was sent.
func (p Params) Has(k string) bool { return p.has(k) }

// Bool returns a boolean parameter (validated already) and whether it was sent.
func (p Params) Bool(k string) (v, ok bool) {
	s, ok := p[k]
	return ok && strings.EqualFold(s, "true"), ok
}

// Int returns an integer parameter (validated already) and whether it was sent.
func (p Params) Int(k string) (int, bool) {
	s, ok := p[k]
	if !ok {
		return 0, false
	}
	n, _ := strconv.Atoi(s)
	return n, true
}

// List splits a comma-separated parameter, dropping empty elements.
func (p Params) List(k string) []string {
	s, ok := p[k]
	if !ok || s == "" {
		return nil
	}
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// Map returns a map parameter sent as name[i].key=value, one map per index, in index order.
func (p Params) Map(name string) []map[string]string {
	prefix := name + "["
	byIndex := map[int]map[string]string{}
	for k, v := range p {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		rest := k[len(prefix):]
		close := strings.IndexByte(rest, ']')
		if close < 0 {
			continue
		}
		idx, err := strconv.Atoi(rest[:close])
		if err != nil {
			continue
		}
		sub := strings.TrimPrefix(rest[close+1:], ".")
		if byIndex[idx] == nil {
			byIndex[idx] = map[string]string{}
		}
		byIndex[idx][sub] = v
	}
	idxs := make([]int, 0, len(byIndex))
	for i := range byIndex {
		idxs = append(idxs, i)
	}
	sort.Ints(idxs)
	out := make([]map[string]string, 0, len(idxs))
	for _, i := range idxs {
		out = append(out, byIndex[i])
	}
	return out
}

// DefaultPageSize applies when page is sent without pagesize (CloudStack's default.page.size).
const DefaultPageSize = 500

// Paging returns limit and offset for a list, or 0, 0 for everything.
func (p Params) Paging() (limit, offset int) {
	size, ok := p.Int("pagesize")
	if !ok && p.has("page") {
		size, ok = DefaultPageSize, true
	}
	if !ok || size == -1 {
		return 0, 0
	}
	pg, ok := p.Int("page")
	if !ok {
		pg = 1
	}
	return size, (pg - 1) * size
}
