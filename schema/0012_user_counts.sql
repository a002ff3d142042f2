-- +goose Up
-- The number of articles a user has favorited moves from users to a row of
-- its own, user_counts, so that a favorite or an unfavorite no longer
-- rewrites the favoriter's users row.
--
-- A favorite counted on users (0002, 0007) updated that row in every
-- favorite's transaction, and the row is a poor place for a counter that
-- changes this often:
--   - users is small on a young site, so PostgreSQL reads it by a scan
--     rather than by its key (the foreign key check of each favorite, the
--     author of each article it returns). Every counter update left a dead
--     copy of the row that those scans then read past: 20 users grew from
--     one page to seven under the bench's favorite mix.
--   - each update of users checks all its CHECK constraints (parsed afresh
--     for every statement) and sets up its 14 triggers and its indexes.
--   - two favorites by one user at once interleaved the foreign key's
--     share lock on the row with the other's update of it (multixacts).
-- A user_counts row is narrow, has one CHECK and no trigger of its own
-- (only its foreign key's checks, which skip a count update), and nothing
-- else reads or locks it. Under the bench's favorite mix PostgreSQL spent
-- about a sixth less CPU per request (docs/PERFORMANCE.md). The count of a
-- favorited= list reads it by key, as it read users before.
--
-- Every user has one row: a trigger creates it with the user, and the
-- foreign key removes it with the user. The lock order of 0002 and 0007
-- is kept: the favoriter's count first, then the article's.

CREATE TABLE user_counts (
    user_id         bigint  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    favorites_count integer NOT NULL DEFAULT 0 CONSTRAINT user_counts_favorites_count_positive CHECK (favorites_count >= 0)
);
INSERT INTO user_counts (user_id, favorites_count) SELECT id, favorites_count FROM users;

-- users.favorites_count stays, no longer kept: the version running while
-- this migrates (and the one a rollback installs) selects it. Those read
-- it only for the articlesCount of a favorited= list, which they show as
-- it was here until they are replaced. A later migration drops it.
COMMENT ON COLUMN users.favorites_count IS
    'Not kept since schema/0012: the count is user_counts.favorites_count. Left for binaries older than 0012.';

-- +goose StatementBegin
CREATE FUNCTION create_user_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_counts (user_id) SELECT id FROM created;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER users_create_counts AFTER INSERT ON users
    REFERENCING NEW TABLE AS created FOR EACH STATEMENT EXECUTE FUNCTION create_user_counts();

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION count_favorite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE user_counts SET favorites_count = favorites_count + 1 WHERE user_id = NEW.user_id;
        UPDATE articles SET favorites_count = favorites_count + 1 WHERE id = NEW.article_id;
    ELSE
        UPDATE user_counts SET favorites_count = favorites_count - 1 WHERE user_id = OLD.user_id;
        UPDATE articles SET favorites_count = favorites_count - 1 WHERE id = OLD.article_id;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION count_favorited_articles() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sign integer := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    PERFORM FROM user_counts WHERE user_id IN (SELECT user_id FROM changed) ORDER BY user_id FOR NO KEY UPDATE;
    UPDATE user_counts uc SET favorites_count = uc.favorites_count + sign * c.n
    FROM (SELECT user_id, count(*) AS n FROM changed GROUP BY user_id) c
    WHERE uc.user_id = c.user_id;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION recount_moved_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    CASE TG_TABLE_NAME
    WHEN 'articles' THEN
        UPDATE users SET articles_count = articles_count - 1 WHERE id = OLD.author_id;
        UPDATE users SET articles_count = articles_count + 1 WHERE id = NEW.author_id;
    WHEN 'article_tags' THEN
        UPDATE tags SET articles_count = articles_count - 1 WHERE id = OLD.tag_id;
        UPDATE tags SET articles_count = articles_count + 1 WHERE id = NEW.tag_id;
    WHEN 'favorites' THEN
        UPDATE user_counts SET favorites_count = favorites_count - 1 WHERE user_id = OLD.user_id;
        UPDATE user_counts SET favorites_count = favorites_count + 1 WHERE user_id = NEW.user_id;
    END CASE;
    RETURN NULL;
END $$;
-- +goose StatementEnd
