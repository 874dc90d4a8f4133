// Package iam owns identity and access: the domain tree, accounts, users, dynamic roles and
// their permission rules, API keys and their signatures, password hashing, secret-key
// encryption at rest, and the checks that keep a caller inside what it may see and touch.
package iam
