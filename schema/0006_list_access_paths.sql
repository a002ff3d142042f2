-- +goose Up
-- Access paths that start from the smallest set, so that every list filter
-- costs the same whatever the number of articles (docs/PERFORMANCE.md):
--
--   articles.tag_list              the article's tag names, sorted in byte
--                                  order (COLLATE "C"), as every answer
--                                  shows them: a list row reads one column
--                                  instead of joining article_tags and tags;
--   article_tags.article_created_at
--   favorites.article_created_at   a copy of the article's created_at, so
--                                  that (tag_id | user_id, created_at DESC,
--                                  article_id DESC) indexes give a tag's or
--                                  a user's favorites newest first: a page
--                                  reads limit + offset index entries.
--
-- Triggers keep the copies in the writing transaction, for every writer
-- (cascades included), like the counters of 0002:
--   - a BEFORE INSERT row trigger on article_tags and favorites copies the
--     article's created_at when the insert leaves it out (the API's inserts
--     give it, read from the article row they lock or link, which saves a
--     lookup per row); changing a row's article_id or the copy itself
--     copies it again, and a change of articles.created_at (no API
--     operation makes one) is copied to its rows;
--   - statement-level AFTER INSERT/DELETE triggers on article_tags rebuild
--     tag_list of the articles the statement touched, one UPDATE per
--     statement. They are named to fire after article_tags_count_*, so
--     the lock order stays tags, then articles (and the article's own row
--     is already locked by whoever changes its tags through the API).

ALTER TABLE articles ADD COLUMN tag_list text[] NOT NULL DEFAULT '{}';
UPDATE articles a SET tag_list = l.names
FROM (SELECT at.article_id, array_agg(t.name ORDER BY t.name COLLATE "C") AS names
      FROM article_tags at JOIN tags t ON t.id = at.tag_id
      GROUP BY at.article_id) l
WHERE a.id = l.article_id;

ALTER TABLE article_tags ADD COLUMN article_created_at timestamptz;
UPDATE article_tags at SET article_created_at = a.created_at FROM articles a WHERE a.id = at.article_id;
ALTER TABLE article_tags ALTER COLUMN article_created_at SET NOT NULL;
CREATE INDEX article_tags_tag_created_idx ON article_tags (tag_id, article_created_at DESC, article_id DESC);
-- The new index leads with tag_id too: it serves the foreign key from tags.
DROP INDEX article_tags_tag_idx;

ALTER TABLE favorites ADD COLUMN article_created_at timestamptz;
UPDATE favorites f SET article_created_at = a.created_at FROM articles a WHERE a.id = f.article_id;
ALTER TABLE favorites ALTER COLUMN article_created_at SET NOT NULL;
CREATE INDEX favorites_user_created_idx ON favorites (user_id, article_created_at DESC, article_id DESC);

-- +goose StatementBegin
CREATE FUNCTION copy_article_created_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT a.created_at INTO NEW.article_created_at FROM articles a WHERE a.id = NEW.article_id;
    RETURN NEW;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION spread_article_created_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE article_tags SET article_created_at = NEW.created_at WHERE article_id = NEW.id;
    UPDATE favorites SET article_created_at = NEW.created_at WHERE article_id = NEW.id;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- The tag names of the articles in "changed" (their article_id), sorted.
-- +goose StatementBegin
CREATE FUNCTION list_article_tags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE articles a
    SET tag_list = COALESCE((SELECT array_agg(t.name ORDER BY t.name COLLATE "C")
                             FROM article_tags at JOIN tags t ON t.id = at.tag_id
                             WHERE at.article_id = a.id), '{}')
    WHERE a.id IN (SELECT article_id FROM changed);
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- A link that moves to another article or tag, or a renamed tag (no API
-- operation does either), relists the articles concerned.
-- +goose StatementBegin
CREATE FUNCTION relist_article_tags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'tags' THEN
        UPDATE articles a
        SET tag_list = COALESCE((SELECT array_agg(t.name ORDER BY t.name COLLATE "C")
                                 FROM article_tags at JOIN tags t ON t.id = at.tag_id
                                 WHERE at.article_id = a.id), '{}')
        WHERE a.id IN (SELECT at.article_id FROM article_tags at WHERE at.tag_id = NEW.id);
    ELSE
        UPDATE articles a
        SET tag_list = COALESCE((SELECT array_agg(t.name ORDER BY t.name COLLATE "C")
                                 FROM article_tags at JOIN tags t ON t.id = at.tag_id
                                 WHERE at.article_id = a.id), '{}')
        WHERE a.id IN (OLD.article_id, NEW.article_id);
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER article_tags_copy_created_at BEFORE INSERT ON article_tags
    FOR EACH ROW WHEN (NEW.article_created_at IS NULL) EXECUTE FUNCTION copy_article_created_at();
CREATE TRIGGER article_tags_recopy_created_at BEFORE UPDATE OF article_id, article_created_at ON article_tags
    FOR EACH ROW EXECUTE FUNCTION copy_article_created_at();
CREATE TRIGGER favorites_copy_created_at BEFORE INSERT ON favorites
    FOR EACH ROW WHEN (NEW.article_created_at IS NULL) EXECUTE FUNCTION copy_article_created_at();
CREATE TRIGGER favorites_recopy_created_at BEFORE UPDATE OF article_id, article_created_at ON favorites
    FOR EACH ROW EXECUTE FUNCTION copy_article_created_at();
CREATE TRIGGER articles_spread_created_at AFTER UPDATE OF created_at ON articles
    FOR EACH ROW WHEN (OLD.created_at IS DISTINCT FROM NEW.created_at) EXECUTE FUNCTION spread_article_created_at();

CREATE TRIGGER article_tags_list_inserted AFTER INSERT ON article_tags
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION list_article_tags();
CREATE TRIGGER article_tags_list_deleted AFTER DELETE ON article_tags
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION list_article_tags();
CREATE TRIGGER article_tags_list_moved AFTER UPDATE OF article_id, tag_id ON article_tags
    FOR EACH ROW EXECUTE FUNCTION relist_article_tags();
CREATE TRIGGER tags_list_renamed AFTER UPDATE OF name ON tags
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION relist_article_tags();
