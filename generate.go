// Package sophsapp is the root of the sophsapp module. It holds the code
// generation entry point and the embedded database migrations.
//
// Run `go generate ./...` after editing api/openapi.yaml, schema/ or queries/:
// oapi-codegen regenerates gen/api and sqlc regenerates gen/db, both with the
// versions pinned in tools/go.mod; scripts/generate-js regenerates the
// TypeScript client's types (clients/typescript/src/schema.ts) and copies the
// API reference's renderer (internal/apidocs/assets/swagger-ui), with the
// versions pinned in the package-lock.json files.
package sophsapp

import "embed"

//go:generate go tool -modfile=tools/go.mod oapi-codegen -config oapi.yaml api/openapi.yaml
//go:generate go tool -modfile=tools/go.mod sqlc generate -f sqlc.yaml
//go:generate bash scripts/generate-js

// OpenAPI is api/openapi.yaml as written, served at /api/openapi.yaml.
//
//go:embed api/openapi.yaml
var OpenAPI []byte

// Migrations holds the numbered, forward-only SQL migrations in schema/. The
// same files are sqlc's schema, so the generated queries always match them.
//
//go:embed schema/*.sql
var Migrations embed.FS
