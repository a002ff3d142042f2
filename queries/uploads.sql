-- name: CreateUploadChunk :exec
-- Stores the bytes of an upload from offset start on; the uploads row
-- follows in the same transaction.
INSERT INTO upload_chunks (upload_id, start, data) VALUES (sqlc.arg(upload_id), sqlc.arg(start), sqlc.arg(data));

-- name: CreateUpload :one
-- Records an upload whose chunks are stored; the trigger adds it to the
-- user's usage.
INSERT INTO uploads (id, user_id, content_type, size, sha256)
VALUES (sqlc.arg(id), sqlc.arg(user_id), sqlc.arg(content_type), sqlc.arg(size), sqlc.arg(sha256))
RETURNING created_at;

-- name: GetUploadUsage :one
-- The bytes a user stores (0 for none); inside an upload's transaction, after
-- CreateUpload, it includes that upload and holds the usage row's lock, so
-- concurrent uploads by one user are checked against the quota one after the
-- other.
SELECT COALESCE((SELECT bytes FROM upload_usage WHERE user_id = sqlc.arg(user_id)), 0)::bigint AS bytes;

-- name: GetUpload :one
SELECT id, user_id, content_type, size, sha256, created_at FROM uploads WHERE id = sqlc.arg(id);

-- name: GetUploadChunk :one
-- The stored chunk holding byte pos of the upload.
SELECT start, data FROM upload_chunks
WHERE upload_id = sqlc.arg(upload_id) AND start <= sqlc.arg(pos)
ORDER BY start DESC
LIMIT 1;

-- name: ListUploads :many
-- A page of a user's uploads, newest first.
SELECT id, user_id, content_type, size, sha256, created_at FROM uploads
WHERE user_id = sqlc.arg(user_id)
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(page_limit) OFFSET sqlc.arg(page_offset);

-- name: CountUploads :one
-- How many uploads a user has, from the usage row.
SELECT COALESCE((SELECT uploads FROM upload_usage WHERE user_id = sqlc.arg(user_id)), 0)::integer AS uploads;

-- name: DeleteUpload :execrows
-- Deletes the upload when it is the user's; its chunks go with it.
DELETE FROM uploads WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);
