-- +goose Up
-- Security: revocable tokens, login throttling shared by every instance,
-- and usernames unique regardless of case and Unicode presentation.

-- Tokens carry the user's token generation at issue time (the "gen" claim;
-- tokens issued before this migration have none, which reads as 0). A
-- password change moves the user to the next generation, revoking every
-- earlier token except the one that made the change, whose SHA-256 is kept.
-- Each authenticated request reads these two columns by primary key.
ALTER TABLE users
    ADD COLUMN token_generation integer NOT NULL DEFAULT 0,
    ADD COLUMN kept_token_sha256 bytea;

-- Failed logins per key: 'addr:<client address>', 'acct:<email, lowercased>'
-- and 'pair:<address> <email>'. A key whose failures reach its threshold is
-- blocked until blocked_until (exponential backoff, see
-- internal/httpapi/throttle.go); a successful login deletes its account and
-- pair keys. Rows older than a day are pruned.
CREATE TABLE login_throttle (
    key           text        PRIMARY KEY,
    failures      integer     NOT NULL,
    blocked_until timestamptz NOT NULL,
    last_failure  timestamptz NOT NULL
);
CREATE INDEX login_throttle_last_failure_idx ON login_throttle (last_failure);

-- Usernames become unique after NFKC normalization and lowercasing, as
-- emails are unique after lowercasing. Existing names that collide under the
-- new rule keep the oldest account's name; every later account in the
-- collision is renamed to <name>-<id> (-<n> appended in the unlikely case
-- that this is taken too). Those users still log in with their email and
-- see their new username in the API.
-- +goose StatementBegin
DO $$
DECLARE
    r record;
    candidate text;
    n integer;
BEGIN
    FOR r IN
        SELECT id, username
        FROM (SELECT id, username,
                     row_number() OVER (PARTITION BY lower(normalize(username, NFKC)) ORDER BY id) AS rank
              FROM users) ranked
        WHERE rank > 1
        ORDER BY id
    LOOP
        n := 0;
        LOOP
            candidate := left(r.username, 40) || '-' || r.id || CASE WHEN n > 0 THEN '-' || n ELSE '' END;
            EXIT WHEN NOT EXISTS (SELECT 1 FROM users
                                  WHERE lower(normalize(username, NFKC)) = lower(normalize(candidate, NFKC)));
            n := n + 1;
        END LOOP;
        RAISE NOTICE 'username % of user % collides under NFKC and case: renamed to %', r.username, r.id, candidate;
        UPDATE users SET username = candidate WHERE id = r.id;
    END LOOP;
END
$$;
-- +goose StatementEnd

-- The error mapper words a violation of users_username_key as "username has
-- already been taken"; the name stays. Exact lookups (profiles, the
-- author= and favorited= filters) use users_username_idx.
DROP INDEX users_username_key;
CREATE UNIQUE INDEX users_username_key ON users (lower(normalize(username, NFKC)));
CREATE INDEX users_username_idx ON users (username);
