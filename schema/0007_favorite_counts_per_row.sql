-- +goose Up
-- A favorite or an unfavorite is one row, and the statement-level
-- triggers of 0002 and 0003 cost it more than the rest of the request:
-- each call builds a transition table and runs queries against it that
-- PostgreSQL cannot keep planned (with them, a favorite plus an
-- unfavorite ran at half the rate it runs with the two updates below;
-- docs/PERFORMANCE.md).
--
-- So statements a client sends to favorites (the API's favorite and
-- unfavorite, SQL typed by hand) now count each row with two updates by
-- primary key, the favoriter's users row, then the article's row: the
-- order of 0003. The statement-level triggers stay, for the statements
-- that foreign keys cascade from deleting an article or a user: those
-- delete many favorites at once, and locking all their counter rows in id
-- order is what keeps concurrent deletions from deadlocking.
-- pg_trigger_depth() tells the two apart: 0 for a statement a client
-- sent, 1 or more inside the foreign key's cascade.

-- +goose StatementBegin
CREATE FUNCTION count_favorite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE users SET favorites_count = favorites_count + 1 WHERE id = NEW.user_id;
        UPDATE articles SET favorites_count = favorites_count + 1 WHERE id = NEW.article_id;
    ELSE
        UPDATE users SET favorites_count = favorites_count - 1 WHERE id = OLD.user_id;
        UPDATE articles SET favorites_count = favorites_count - 1 WHERE id = OLD.article_id;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER favorites_count_row AFTER INSERT OR DELETE ON favorites
    FOR EACH ROW WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION count_favorite();

DROP TRIGGER favorites_count_inserted ON favorites;
DROP TRIGGER favorites_count_deleted ON favorites;
DROP TRIGGER favorites_recount_articles_inserted ON favorites;
DROP TRIGGER favorites_recount_articles_deleted ON favorites;
CREATE TRIGGER favorites_count_inserted AFTER INSERT ON favorites
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
    WHEN (pg_trigger_depth() > 0) EXECUTE FUNCTION count_favorited_articles();
CREATE TRIGGER favorites_count_deleted AFTER DELETE ON favorites
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT
    WHEN (pg_trigger_depth() > 0) EXECUTE FUNCTION count_favorited_articles();
CREATE TRIGGER favorites_recount_articles_inserted AFTER INSERT ON favorites
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
    WHEN (pg_trigger_depth() > 0) EXECUTE FUNCTION count_article_favorites();
CREATE TRIGGER favorites_recount_articles_deleted AFTER DELETE ON favorites
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT
    WHEN (pg_trigger_depth() > 0) EXECUTE FUNCTION count_article_favorites();
