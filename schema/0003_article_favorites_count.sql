-- +goose Up
-- articles.favorites_count joins the counters that triggers keep (see
-- 0002): it was updated by the favorite handlers only, so favorites removed
-- by a cascade (a deleted user's) left it too high. The triggers are named
-- to fire after the favorites_count_* ones of 0002, keeping the lock order
-- users, then articles.

UPDATE articles a SET favorites_count = c.n
FROM (SELECT a2.id, count(f.article_id) AS n
      FROM articles a2 LEFT JOIN favorites f ON f.article_id = a2.id
      GROUP BY a2.id) c
WHERE a.id = c.id AND a.favorites_count <> c.n;

-- +goose StatementBegin
CREATE FUNCTION count_article_favorites() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sign integer := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    PERFORM FROM articles WHERE id IN (SELECT article_id FROM changed) ORDER BY id FOR NO KEY UPDATE;
    UPDATE articles a SET favorites_count = a.favorites_count + sign * c.n
    FROM (SELECT article_id, count(*) AS n FROM changed GROUP BY article_id) c
    WHERE a.id = c.article_id;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION recount_moved_favorite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE articles SET favorites_count = favorites_count - 1 WHERE id = OLD.article_id;
    UPDATE articles SET favorites_count = favorites_count + 1 WHERE id = NEW.article_id;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER favorites_recount_articles_inserted AFTER INSERT ON favorites
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION count_article_favorites();
CREATE TRIGGER favorites_recount_articles_deleted AFTER DELETE ON favorites
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION count_article_favorites();
CREATE TRIGGER favorites_recount_articles_moved AFTER UPDATE OF article_id ON favorites
    FOR EACH ROW WHEN (OLD.article_id IS DISTINCT FROM NEW.article_id) EXECUTE FUNCTION recount_moved_favorite();
