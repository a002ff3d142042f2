-- +goose Up
-- How an instance checks that the notifications of 0009 reach it, before
-- it keeps GET /api/tags in memory on their word (internal/database/
-- listen.go). probe_tags_changed fails unless the trigger that sends them
-- is there and enabled, then sends one with the caller's nonce as its
-- payload: the listener waits for that very payload, so a notification
-- that some other session happened to send cannot pass for it.
--
-- A trigger enabled as 'O' (the default) does not fire for sessions with
-- session_replication_role = replica (logical replication's apply,
-- pg_restore --disable-triggers): writes made that way do not notify, and
-- instances keep their answer until the next write that does.

-- +goose StatementBegin
CREATE FUNCTION probe_tags_changed(nonce text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_trigger
        WHERE tgrelid = 'tags'::regclass AND tgname = 'tags_changed' AND tgenabled IN ('O', 'A')
    ) THEN
        RAISE EXCEPTION 'the trigger tags_changed on tags is missing or disabled';
    END IF;
    PERFORM pg_notify('tags_changed', nonce);
END
$$;
-- +goose StatementEnd
