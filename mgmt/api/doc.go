// Package api serves Apache CloudStack's command API at /client/api: the registry of commands
// (the single source of truth for names, parameters, async-ness, response keys and roles),
// parameter parsing, request signatures and sessions, and CloudStack-shaped responses and
// errors. One file per resource family holds that family's commands.
package api
