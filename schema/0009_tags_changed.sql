-- +goose Up
-- Every statement that writes to tags (a tag created, or its
-- articles_count moved by the article_tags triggers of 0002) sends a
-- notification on the channel tags_changed when its transaction commits.
-- Each instance keeps GET /api/tags' answer in memory and drops it on
-- that notification (internal/httpapi/tags.go). PostgreSQL sends one
-- notification per channel and payload per transaction, however many
-- statements fired it.
--
-- An instance checks that the notifications reach it before it trusts
-- them (schema/0010).

-- +goose StatementBegin
CREATE FUNCTION notify_tags_changed() RETURNS void LANGUAGE sql AS $$
    SELECT pg_notify('tags_changed', '');
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION tags_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM notify_tags_changed();
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER tags_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tags
    FOR EACH STATEMENT EXECUTE FUNCTION tags_changed();
