// Package template owns the workflows of templates and ISOs (images): registering one from a
// URL, creating one from a volume or a snapshot, copying it between zones, downloading its
// copies into image stores, updating, extracting, sharing and deleting it. mgmt/api parses
// and renders; everything that writes an image's rows, charges its counts or starts its jobs
// is here.
package template
