// Package transfer owns the bytes behind extract and upload URLs: the signed tokens those
// URLs carry (valid on every management server of the cloud until they expire), and the
// streaming of a file between an HTTP client and an image store through an Up host of its
// zone, chunk by chunk over the agent protocol (CloudStack's secondary storage VM serves these
// itself; here the management server does, so users need only reach the API endpoint).
package transfer
