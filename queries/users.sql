-- name: CreateUser :one
INSERT INTO users (username, email, password_hash)
VALUES (sqlc.arg(username), sqlc.arg(email), sqlc.arg(password_hash))
RETURNING *;

-- name: GetUserByEmail :one
-- Emails are unique regardless of case (users_email_key is on lower(email)),
-- so this finds at most one user and uses that index.
SELECT *
FROM users
WHERE lower(email) = lower(sqlc.arg(email));

-- name: GetUserByID :one
SELECT *
FROM users
WHERE id = sqlc.arg(id);

-- name: UpdateUser :one
-- A NULL argument leaves its column alone; bio and image are cleared with ''.
-- A new password moves the user to the next token generation, which
-- revokes every token issued before, except the caller's, whose SHA-256 is
-- kept (see schema/0004_security.sql).
-- The caller's token (its generation and SHA-256) must still be valid when
-- the row is written, not only when the request arrived: of two password
-- changes made at once from two devices, the second would otherwise land
-- with a token the first had just revoked. No row then.
UPDATE users
SET email         = coalesce(sqlc.narg(email), email),
    username      = coalesce(sqlc.narg(username), username),
    password_hash = coalesce(sqlc.narg(password_hash), password_hash),
    token_generation  = CASE WHEN sqlc.narg(password_hash)::text IS NULL THEN token_generation ELSE token_generation + 1 END,
    kept_token_sha256 = CASE WHEN sqlc.narg(password_hash)::text IS NULL THEN kept_token_sha256 ELSE sqlc.narg(kept_token_sha256)::bytea END,
    bio           = coalesce(sqlc.narg(bio), bio),
    image         = coalesce(sqlc.narg(image), image),
    updated_at    = now()
WHERE id = sqlc.arg(id)
  AND (token_generation = sqlc.arg(caller_token_generation) OR kept_token_sha256 = sqlc.arg(caller_token_sha256))
RETURNING *;

-- name: CheckToken :exec
-- The revocation check every authenticated request owes: fails with
-- SQLSTATE SA401 (schema/0008_token_check.sql) when the token is revoked or
-- its user is gone. It is usually sent in one pipeline with the request's
-- first statement (internal/httpapi/tokencheck.go).
SELECT check_token(sqlc.arg(user_id), sqlc.arg(generation), sqlc.arg(token_sha256));

-- name: GetTakenNames :one
-- Which of a username and an email other users already have, both at once,
-- by the same rules as users_username_key and users_email_key.
SELECT EXISTS (SELECT 1 FROM users u
               WHERE lower(normalize(u.username, NFKC)) = lower(normalize(sqlc.narg(username)::text, NFKC))
                 AND u.id IS DISTINCT FROM sqlc.narg(id)::bigint) AS username_taken,
       EXISTS (SELECT 1 FROM users u
               WHERE lower(u.email) = lower(sqlc.narg(email)::text)
                 AND u.id IS DISTINCT FROM sqlc.narg(id)::bigint) AS email_taken;

-- name: GetLoginBlock :one
-- Seconds until the longest block among keys ends; 0 when none is blocked.
SELECT coalesce(max(ceil(extract(epoch FROM blocked_until - now()))), 0)::integer AS retry_after
FROM login_throttle
WHERE key = ANY (sqlc.arg(keys)::text[])
  AND blocked_until > now();

-- name: RecordLoginFailure :one
-- Counts a failed login against key and returns the count; a key whose last
-- failure is more than a day old starts again from one.
INSERT INTO login_throttle AS t (key, failures, blocked_until, last_failure)
VALUES (sqlc.arg(key), 1, '-infinity', now())
ON CONFLICT (key) DO UPDATE
SET failures     = CASE WHEN t.last_failure < now() - interval '1 day' THEN 1 ELSE t.failures + 1 END,
    last_failure = now()
RETURNING failures;

-- name: BlockLogin :exec
-- Blocks logins of key for the given number of seconds from now.
UPDATE login_throttle
SET blocked_until = now() + make_interval(secs => sqlc.arg(seconds)::integer)
WHERE key = sqlc.arg(key);

-- name: ClearLoginFailures :exec
-- Forgets the failures of keys (after a successful login).
DELETE FROM login_throttle
WHERE key = ANY (sqlc.arg(keys)::text[]);

-- name: PruneLoginThrottle :exec
-- Drops keys whose last failure is more than a day old.
DELETE FROM login_throttle
WHERE last_failure < now() - interval '1 day';
