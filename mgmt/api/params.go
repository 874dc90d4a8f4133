package api

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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
		v, ok := p[normalizeKey(d.Name)] // login declares domainId, as CloudStack spells it
		if d.Type == TMap {
			if err := c.checkMapSize(d, p); err != nil {
				return err
			}
		}
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
		if err := c.checkSize(d, v); err != nil {
			return err
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

// DefaultLength bounds a parameter that declares no Length: CloudStack's @Parameter length
// default. It bounds every kind of value (a long id or number is malformed anyway), each item
// of a list and each key and value of a map.
const DefaultLength = 255

// MaxListItems bounds the items of a list parameter and the entries of a map parameter. CloudStack
// sets no bound; ours keeps every filter a statement the database accepts (SQLite refuses an
// expression deeper than 1,000 terms) and is a page's worth of ids (DefaultPageSize).
const MaxListItems = DefaultPageSize

// limit is the length bound of a parameter's values.
func (d *Param) limit() int {
	if d.Length > 0 {
		return d.Length
	}
	return DefaultLength
}

// checkSize bounds a parameter's value before anything reads it: its length, in characters, or
// for a list, each item's length and the number of items.
func (c *Command) checkSize(d Param, v string) error {
	n := d.limit()
	if d.Type != TList {
		if tooLong(v, n) {
			return ErrLength(c.Name, d.Name, n)
		}
		return c.checkUTF8(d.Name, v)
	}
	if len(v) > MaxListItems*(n+1) {
		return ErrTooMany(c.Name, d.Name, MaxListItems)
	}
	items := 0
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		if items++; items > MaxListItems {
			return ErrTooMany(c.Name, d.Name, MaxListItems)
		}
		if tooLong(e, n) {
			return ErrLength(c.Name, d.Name, n)
		}
	}
	return c.checkUTF8(d.Name, v)
}

// MaxMapBytes bounds the whole of a map parameter (its keys and values, in bytes): a map is kept
// as one JSON text, and MariaDB's TEXT holds 65,535 bytes, escapes included.
const MaxMapBytes = 16384

// checkMapSize bounds a map parameter sent as name[i].key=value: each key and value, the number
// of entries, and the whole map's size.
func (c *Command) checkMapSize(d Param, p Params) error {
	n := d.limit()
	prefix := d.Name + "["
	var entries map[string]bool
	total := 0
	for k, v := range p {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		idx, sub, _ := strings.Cut(k[len(prefix):], "]")
		if tooLong(v, n) || tooLong(sub, n) || tooLong(idx, n) {
			return ErrLength(c.Name, d.Name, n)
		}
		if total += len(sub) + len(v); total > MaxMapBytes {
			return ErrLength(c.Name, d.Name, MaxMapBytes)
		}
		if err := c.checkUTF8(d.Name, k+v); err != nil {
			return err
		}
		if entries == nil {
			entries = map[string]bool{}
		}
		if entries[idx] = true; len(entries) > MaxListItems {
			return ErrTooMany(c.Name, d.Name, MaxListItems)
		}
	}
	return nil
}

// checkUTF8 refuses a value that is not UTF-8 text: no column could store it (MariaDB's
// utf8mb4 columns refuse it; CloudStack, in Java, would have replaced the bytes).
func (c *Command) checkUTF8(name, v string) error {
	if utf8.ValidString(v) {
		return nil
	}
	// The value is not repeated back: it may be a secret, or a megabyte of userdata.
	return Errorf(CodeParam, CSServerAPI, "Unable to execute API command %s due to invalid value. Invalid parameter %s: it is not valid UTF-8 text",
		strings.ToLower(c.Name), name)
}

// tooLong reports whether s has more than n characters (runes; a byte that is not UTF-8 counts
// as one).
func tooLong(s string, n int) bool {
	return len(s) > n && utf8.RuneCountInString(s) > n
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
