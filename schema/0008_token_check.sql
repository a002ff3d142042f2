-- +goose Up
-- The revocation check of 0004 as a statement that fails, rather than a
-- row to compare: check_token raises SQLSTATE SA401 when a token's user no
-- longer exists or a password change revoked its generation, and returns
-- nothing otherwise.
--
-- Failing is what lets the check travel with the first statement of a
-- request instead of a round trip of its own (internal/httpapi/tokencheck.go):
-- both go to the server in one pipeline, which PostgreSQL runs as one
-- implicit transaction, and an error in the check skips and rolls back
-- everything after it. A write sent with a revoked token is never executed.

-- +goose StatementBegin
CREATE FUNCTION check_token(user_id bigint, generation integer, token_sha256 bytea)
RETURNS void LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM 1 FROM users u
    WHERE u.id = check_token.user_id
      AND (u.token_generation = check_token.generation OR u.kept_token_sha256 = check_token.token_sha256);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'token of user % is revoked, or the user no longer exists', check_token.user_id
            USING ERRCODE = 'SA401';
    END IF;
END
$$;
-- +goose StatementEnd
