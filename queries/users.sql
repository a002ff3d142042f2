-- name: CreateUser :one
INSERT INTO users (username, email, password_hash)
VALUES (@username, @email, @password_hash)
RETURNING *;

-- name: GetUserByEmail :one
-- Emails are unique regardless of case (users_email_key is on lower(email)),
-- so this finds at most one user and uses that index.
SELECT *
FROM users
WHERE lower(email) = lower(@email);

-- name: GetUserByID :one
SELECT *
FROM users
WHERE id = @id;

-- name: UpdateUser :one
-- A NULL argument leaves its column alone; bio and image are cleared with ''.
UPDATE users
SET email         = coalesce(sqlc.narg(email), email),
    username      = coalesce(sqlc.narg(username), username),
    password_hash = coalesce(sqlc.narg(password_hash), password_hash),
    bio           = coalesce(sqlc.narg(bio), bio),
    image         = coalesce(sqlc.narg(image), image),
    updated_at    = now()
WHERE id = @id
RETURNING *;
