-- +goose Up
-- Counters behind articlesCount, so that a list filtered by at most one of
-- tag, author or favorited reads one row instead of counting the articles:
--
--   article_totals.articles_count  every article
--   tags.articles_count            articles with the tag
--   users.articles_count           articles by the user
--   users.favorites_count          articles the user has favorited
--
-- Triggers keep them in the transaction of every write to articles,
-- article_tags and favorites, including the rows a foreign key cascades
-- (deleting an article removes its tag links and favorites; deleting a
-- user removes their articles and favorites), which a counter updated in
-- the handlers would miss.
--
-- Lock order, so that concurrent writers wait instead of deadlocking: a
-- statement that inserts articles takes article_totals first (its AFTER
-- trigger runs before the tags are linked); one that deletes articles
-- takes it in a BEFORE statement trigger, before the cascades reach the
-- tags and users. So writers of articles queue on that row and never hold
-- a tag or user counter while waiting for it; every other writer (tags of
-- an article, favorites) locks one kind of counter row, and each trigger
-- locks the rows it changes in id order before changing them. Every
-- article insertion and deletion thus waits for the one before it to
-- commit: fine while writes are rare next to reads and the transactions
-- short, as here; a sharded total would lift it.

CREATE TABLE article_totals (
    only_row       boolean PRIMARY KEY DEFAULT true CONSTRAINT article_totals_one_row CHECK (only_row),
    articles_count bigint  NOT NULL CONSTRAINT article_totals_articles_count_positive CHECK (articles_count >= 0)
);
INSERT INTO article_totals (articles_count) SELECT count(*) FROM articles;

ALTER TABLE tags
    ADD COLUMN articles_count integer NOT NULL DEFAULT 0
        CONSTRAINT tags_articles_count_positive CHECK (articles_count >= 0);
ALTER TABLE users
    ADD COLUMN articles_count integer NOT NULL DEFAULT 0
        CONSTRAINT users_articles_count_positive CHECK (articles_count >= 0),
    ADD COLUMN favorites_count integer NOT NULL DEFAULT 0
        CONSTRAINT users_favorites_count_positive CHECK (favorites_count >= 0);

UPDATE tags t SET articles_count = c.n
FROM (SELECT tag_id, count(*) AS n FROM article_tags GROUP BY tag_id) c
WHERE t.id = c.tag_id;
UPDATE users u SET articles_count = c.n
FROM (SELECT author_id, count(*) AS n FROM articles GROUP BY author_id) c
WHERE u.id = c.author_id;
UPDATE users u SET favorites_count = c.n
FROM (SELECT user_id, count(*) AS n FROM favorites GROUP BY user_id) c
WHERE u.id = c.user_id;

-- The transition table "changed" holds the rows the statement inserted or
-- deleted; sign is +1 or -1. Statement-level, so a bulk insert updates
-- each counter row once.

-- +goose StatementBegin
CREATE FUNCTION count_articles() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sign integer := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
    n    bigint;
BEGIN
    SELECT count(*) INTO n FROM changed;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    UPDATE article_totals SET articles_count = articles_count + sign * n;
    PERFORM FROM users WHERE id IN (SELECT author_id FROM changed) ORDER BY id FOR NO KEY UPDATE;
    UPDATE users u SET articles_count = u.articles_count + sign * c.n
    FROM (SELECT author_id, count(*) AS n FROM changed GROUP BY author_id) c
    WHERE u.id = c.author_id;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION lock_article_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM article_totals FOR NO KEY UPDATE;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION count_tagged_articles() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sign integer := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    PERFORM FROM tags WHERE id IN (SELECT tag_id FROM changed) ORDER BY id FOR NO KEY UPDATE;
    UPDATE tags t SET articles_count = t.articles_count + sign * c.n
    FROM (SELECT tag_id, count(*) AS n FROM changed GROUP BY tag_id) c
    WHERE t.id = c.tag_id;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION count_favorited_articles() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sign integer := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    PERFORM FROM users WHERE id IN (SELECT user_id FROM changed) ORDER BY id FOR NO KEY UPDATE;
    UPDATE users u SET favorites_count = u.favorites_count + sign * c.n
    FROM (SELECT user_id, count(*) AS n FROM changed GROUP BY user_id) c
    WHERE u.id = c.user_id;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- A row whose counted key changes (no API operation does this) moves from
-- one counter to the other.
-- +goose StatementBegin
CREATE FUNCTION recount_moved_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    CASE TG_TABLE_NAME
    WHEN 'articles' THEN
        UPDATE users SET articles_count = articles_count - 1 WHERE id = OLD.author_id;
        UPDATE users SET articles_count = articles_count + 1 WHERE id = NEW.author_id;
    WHEN 'article_tags' THEN
        UPDATE tags SET articles_count = articles_count - 1 WHERE id = OLD.tag_id;
        UPDATE tags SET articles_count = articles_count + 1 WHERE id = NEW.tag_id;
    WHEN 'favorites' THEN
        UPDATE users SET favorites_count = favorites_count - 1 WHERE id = OLD.user_id;
        UPDATE users SET favorites_count = favorites_count + 1 WHERE id = NEW.user_id;
    END CASE;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER articles_count_inserted AFTER INSERT ON articles
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION count_articles();
CREATE TRIGGER articles_lock_totals BEFORE DELETE ON articles
    FOR EACH STATEMENT EXECUTE FUNCTION lock_article_totals();
CREATE TRIGGER articles_count_deleted AFTER DELETE ON articles
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION count_articles();
CREATE TRIGGER articles_count_moved AFTER UPDATE OF author_id ON articles
    FOR EACH ROW WHEN (OLD.author_id IS DISTINCT FROM NEW.author_id) EXECUTE FUNCTION recount_moved_row();

CREATE TRIGGER article_tags_count_inserted AFTER INSERT ON article_tags
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION count_tagged_articles();
CREATE TRIGGER article_tags_count_deleted AFTER DELETE ON article_tags
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION count_tagged_articles();
CREATE TRIGGER article_tags_count_moved AFTER UPDATE OF tag_id ON article_tags
    FOR EACH ROW WHEN (OLD.tag_id IS DISTINCT FROM NEW.tag_id) EXECUTE FUNCTION recount_moved_row();

CREATE TRIGGER favorites_count_inserted AFTER INSERT ON favorites
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION count_favorited_articles();
CREATE TRIGGER favorites_count_deleted AFTER DELETE ON favorites
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION count_favorited_articles();
CREATE TRIGGER favorites_count_moved AFTER UPDATE OF user_id ON favorites
    FOR EACH ROW WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id) EXECUTE FUNCTION recount_moved_row();
