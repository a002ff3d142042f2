-- The article lists. A page of articles with everything a list item
-- shows, and the number of articles matching, is ONE statement whatever
-- the page size, and each kind of list has its own statement, chosen in
-- Go by the filters present, so that each starts from the smallest set
-- (docs/PERFORMANCE.md):
--
--   ListArticles             articles_created_idx
--   ListArticlesByTag        article_tags_tag_created_idx (the tag's links,
--                            newest article first)
--   ListArticlesByAuthor     articles_author_created_idx
--   ListArticlesByFavoriter  favorites_user_created_idx
--   ListFeedArticles         per followed author, articles_author_created_idx
--   ListArticlesByFavoriterFiltered   favorited and author and/or tag:
--                            the user's favorites, checked one by one
--   ListArticlesByAuthorAndTag        the author's articles, checked
--                            (both check their candidates once, in a
--                            materialized CTE, for the count and the page)
--
-- Every page reads limit + offset index entries (the filtered ones: as
-- many candidates as it takes), then fetches the page's rows by primary
-- key. A single filter's count is a counter row that triggers keep
-- (schema/0002_article_counts.sql); combined filters count their
-- candidates, as many as the user favorited or the author wrote. The
-- count comes back even when the page is past the end: on one row whose
-- id is 0 (identities start at 1) and whose other article columns are
-- empty.
--
-- Plans are cached: PostgreSQL keeps a prepared statement's generic plan
-- (planned once per connection) only when it costs no more than the plans
-- made for the actual parameters. So the parameters whose values would
-- change those plans enter as uncorrelated subqueries, "(SELECT $n)",
-- evaluated once per execution but opaque to the planner: the page size
-- and offset (a known LIMIT 20 makes the custom plan far cheaper than the
-- generic one, which assumes a tenth of the rows), the viewer (a NULL
-- viewer folds the flags away) and an optional filter's NULL test. With nothing to gain from re-planning,
-- the generic plan is used from the sixth execution on
-- (TestListQueriesUseGenericPlans). Because the planner then assumes a
-- tenth of the rows, the page is capped at the spec's maximum limit (100)
-- for its estimate, and the rows are fetched through LATERAL subqueries
-- with OFFSET 0, which keep them as index lookups per page row (the
-- estimate would otherwise make a hash join over every article look
-- cheaper), and the flags' EXISTS carry OFFSET 0 so that they are probes
-- per row rather than a hash of all the viewer's favorites.

-- name: ListArticles :many
-- Every article, newest first; the count is article_totals.
SELECT total.n AS articles_count,
       COALESCE(x.id, 0)::bigint AS id, COALESCE(x.slug, '')::text AS slug,
       COALESCE(x.title, '')::text AS title, COALESCE(x.description, '')::text AS description,
       COALESCE(x.created_at, 'epoch')::timestamptz AS created_at,
       COALESCE(x.updated_at, 'epoch')::timestamptz AS updated_at,
       COALESCE(x.favorites_count, 0)::int AS favorites_count,
       COALESCE(x.username, '')::text AS username, COALESCE(x.bio, '')::text AS bio,
       COALESCE(x.image, '')::text AS image, COALESCE(x.tag_list, '{}')::text[] AS tag_list,
       COALESCE(x.favorited, false)::bool AS favorited, COALESCE(x.following, false)::bool AS following
FROM (SELECT c.articles_count AS n FROM article_totals c) total
LEFT JOIN (
    SELECT a.id, a.slug, a.title, a.description,
           a.created_at, a.updated_at, a.favorites_count,
           u.username, u.bio, u.image, a.tag_list,
           EXISTS (SELECT 1 FROM favorites f
                   WHERE f.user_id = (SELECT sqlc.narg(viewer_id)::bigint) AND f.article_id = a.id OFFSET 0) AS favorited,
           EXISTS (SELECT 1 FROM follows fo
                   WHERE fo.follower_id = (SELECT sqlc.narg(viewer_id)::bigint) AND fo.followee_id = a.author_id OFFSET 0) AS following
    FROM (
        SELECT page.id, page.created_at FROM (
            SELECT x.id, x.created_at FROM articles x
            ORDER BY x.created_at DESC, x.id DESC
            LIMIT (SELECT sqlc.arg(page_limit)::int) OFFSET (SELECT sqlc.arg(page_offset)::int)
    ) page LIMIT 100
    ) p
    CROSS JOIN LATERAL (SELECT ar.* FROM articles ar WHERE ar.id = p.id OFFSET 0) a
    CROSS JOIN LATERAL (SELECT us.* FROM users us WHERE us.id = a.author_id OFFSET 0) u
) x ON true
ORDER BY x.created_at DESC, x.id DESC;

-- name: ListArticlesByTag :many
-- The articles with the tag; the count is tags.articles_count, 0 for an
-- unknown tag.
SELECT total.n AS articles_count,
       COALESCE(x.id, 0)::bigint AS id, COALESCE(x.slug, '')::text AS slug,
       COALESCE(x.title, '')::text AS title, COALESCE(x.description, '')::text AS description,
       COALESCE(x.created_at, 'epoch')::timestamptz AS created_at,
       COALESCE(x.updated_at, 'epoch')::timestamptz AS updated_at,
       COALESCE(x.favorites_count, 0)::int AS favorites_count,
       COALESCE(x.username, '')::text AS username, COALESCE(x.bio, '')::text AS bio,
       COALESCE(x.image, '')::text AS image, COALESCE(x.tag_list, '{}')::text[] AS tag_list,
       COALESCE(x.favorited, false)::bool AS favorited, COALESCE(x.following, false)::bool AS following
FROM (SELECT COALESCE((SELECT ct.articles_count FROM tags ct WHERE ct.name = sqlc.arg(tag)), 0)::bigint AS n) total
LEFT JOIN (
    SELECT a.id, a.slug, a.title, a.description,
           a.created_at, a.updated_at, a.favorites_count,
           u.username, u.bio, u.image, a.tag_list,
           EXISTS (SELECT 1 FROM favorites f
                   WHERE f.user_id = (SELECT sqlc.narg(viewer_id)::bigint) AND f.article_id = a.id OFFSET 0) AS favorited,
           EXISTS (SELECT 1 FROM follows fo
                   WHERE fo.follower_id = (SELECT sqlc.narg(viewer_id)::bigint) AND fo.followee_id = a.author_id OFFSET 0) AS following
    FROM (
        SELECT page.id, page.created_at FROM (
            SELECT x.article_id AS id, x.article_created_at AS created_at FROM article_tags x
            WHERE x.tag_id = (SELECT st.id FROM tags st WHERE st.name = sqlc.arg(tag))
            ORDER BY x.article_created_at DESC, x.article_id DESC
            LIMIT (SELECT sqlc.arg(page_limit)::int) OFFSET (SELECT sqlc.arg(page_offset)::int)
    ) page LIMIT 100
    ) p
    CROSS JOIN LATERAL (SELECT ar.* FROM articles ar WHERE ar.id = p.id OFFSET 0) a
    CROSS JOIN LATERAL (SELECT us.* FROM users us WHERE us.id = a.author_id OFFSET 0) u
) x ON true
ORDER BY x.created_at DESC, x.id DESC;

-- name: ListArticlesByAuthor :many
-- The author's articles; the count is users.articles_count, 0 for an
-- unknown user.
SELECT total.n AS articles_count,
       COALESCE(x.id, 0)::bigint AS id, COALESCE(x.slug, '')::text AS slug,
       COALESCE(x.title, '')::text AS title, COALESCE(x.description, '')::text AS description,
       COALESCE(x.created_at, 'epoch')::timestamptz AS created_at,
       COALESCE(x.updated_at, 'epoch')::timestamptz AS updated_at,
       COALESCE(x.favorites_count, 0)::int AS favorites_count,
       COALESCE(x.username, '')::text AS username, COALESCE(x.bio, '')::text AS bio,
       COALESCE(x.image, '')::text AS image, COALESCE(x.tag_list, '{}')::text[] AS tag_list,
       COALESCE(x.favorited, false)::bool AS favorited, COALESCE(x.following, false)::bool AS following
FROM (SELECT COALESCE((SELECT cu.articles_count FROM users cu WHERE cu.username = sqlc.arg(author)), 0)::bigint AS n) total
LEFT JOIN (
    SELECT a.id, a.slug, a.title, a.description,
           a.created_at, a.updated_at, a.favorites_count,
           u.username, u.bio, u.image, a.tag_list,
           EXISTS (SELECT 1 FROM favorites f
                   WHERE f.user_id = (SELECT sqlc.narg(viewer_id)::bigint) AND f.article_id = a.id OFFSET 0) AS favorited,
           EXISTS (SELECT 1 FROM follows fo
                   WHERE fo.follower_id = (SELECT sqlc.narg(viewer_id)::bigint) AND fo.followee_id = a.author_id OFFSET 0) AS following
    FROM (
        SELECT page.id, page.created_at FROM (
            SELECT x.id, x.created_at FROM articles x
            WHERE x.author_id = (SELECT su.id FROM users su WHERE su.username = sqlc.arg(author))
            ORDER BY x.created_at DESC, x.id DESC
            LIMIT (SELECT sqlc.arg(page_limit)::int) OFFSET (SELECT sqlc.arg(page_offset)::int)
    ) page LIMIT 100
    ) p
    CROSS JOIN LATERAL (SELECT ar.* FROM articles ar WHERE ar.id = p.id OFFSET 0) a
    CROSS JOIN LATERAL (SELECT us.* FROM users us WHERE us.id = a.author_id OFFSET 0) u
) x ON true
ORDER BY x.created_at DESC, x.id DESC;

-- name: ListArticlesByFavoriter :many
-- The articles the user favorited, newest article first; the count is
-- user_counts.favorites_count, 0 for an unknown user.
SELECT total.n AS articles_count,
       COALESCE(x.id, 0)::bigint AS id, COALESCE(x.slug, '')::text AS slug,
       COALESCE(x.title, '')::text AS title, COALESCE(x.description, '')::text AS description,
       COALESCE(x.created_at, 'epoch')::timestamptz AS created_at,
       COALESCE(x.updated_at, 'epoch')::timestamptz AS updated_at,
       COALESCE(x.favorites_count, 0)::int AS favorites_count,
       COALESCE(x.username, '')::text AS username, COALESCE(x.bio, '')::text AS bio,
       COALESCE(x.image, '')::text AS image, COALESCE(x.tag_list, '{}')::text[] AS tag_list,
       COALESCE(x.favorited, false)::bool AS favorited, COALESCE(x.following, false)::bool AS following
FROM (SELECT COALESCE((SELECT uc.favorites_count FROM users cu JOIN user_counts uc ON uc.user_id = cu.id
                        WHERE cu.username = sqlc.arg(favorited)), 0)::bigint AS n) total
LEFT JOIN (
    SELECT a.id, a.slug, a.title, a.description,
           a.created_at, a.updated_at, a.favorites_count,
           u.username, u.bio, u.image, a.tag_list,
           EXISTS (SELECT 1 FROM favorites f
                   WHERE f.user_id = (SELECT sqlc.narg(viewer_id)::bigint) AND f.article_id = a.id OFFSET 0) AS favorited,
           EXISTS (SELECT 1 FROM follows fo
                   WHERE fo.follower_id = (SELECT sqlc.narg(viewer_id)::bigint) AND fo.followee_id = a.author_id OFFSET 0) AS following
    FROM (
        SELECT page.id, page.created_at FROM (
            SELECT x.article_id AS id, x.article_created_at AS created_at FROM favorites x
            WHERE x.user_id = (SELECT su.id FROM users su WHERE su.username = sqlc.arg(favorited))
            ORDER BY x.article_created_at DESC, x.article_id DESC
            LIMIT (SELECT sqlc.arg(page_limit)::int) OFFSET (SELECT sqlc.arg(page_offset)::int)
    ) page LIMIT 100
    ) p
    CROSS JOIN LATERAL (SELECT ar.* FROM articles ar WHERE ar.id = p.id OFFSET 0) a
    CROSS JOIN LATERAL (SELECT us.* FROM users us WHERE us.id = a.author_id OFFSET 0) u
) x ON true
ORDER BY x.created_at DESC, x.id DESC;

-- name: ListArticlesByFavoriterFiltered :many
-- The articles the user favorited that also match an author, a tag or
-- both: the user's favorites, each checked by primary key (its article's
-- author, its tag link; OFFSET 0 keeps that a probe rather than a hash of
-- all the tag's links), once, for the count and the page both. It costs
-- what the user favorited, however many articles there are.
WITH matching AS MATERIALIZED (
    SELECT x.article_id AS id, x.article_created_at AS created_at FROM favorites x
    WHERE x.user_id = (SELECT su.id FROM users su WHERE su.username = sqlc.arg(favorited))
      AND ((SELECT sqlc.narg(author)::text) IS NULL
           OR (SELECT xa.author_id FROM articles xa WHERE xa.id = x.article_id)
              = (SELECT sa.id FROM users sa WHERE sa.username = (SELECT sqlc.narg(author)::text)))
      AND ((SELECT sqlc.narg(tag)::text) IS NULL
           OR EXISTS (SELECT 1 FROM article_tags xt
                      WHERE xt.article_id = x.article_id
                        AND xt.tag_id = (SELECT st.id FROM tags st WHERE st.name = (SELECT sqlc.narg(tag)::text)) OFFSET 0))
)
SELECT total.n AS articles_count,
       COALESCE(x.id, 0)::bigint AS id, COALESCE(x.slug, '')::text AS slug,
       COALESCE(x.title, '')::text AS title, COALESCE(x.description, '')::text AS description,
       COALESCE(x.created_at, 'epoch')::timestamptz AS created_at,
       COALESCE(x.updated_at, 'epoch')::timestamptz AS updated_at,
       COALESCE(x.favorites_count, 0)::int AS favorites_count,
       COALESCE(x.username, '')::text AS username, COALESCE(x.bio, '')::text AS bio,
       COALESCE(x.image, '')::text AS image, COALESCE(x.tag_list, '{}')::text[] AS tag_list,
       COALESCE(x.favorited, false)::bool AS favorited, COALESCE(x.following, false)::bool AS following
FROM (SELECT count(*) AS n FROM matching) total
LEFT JOIN (
    SELECT a.id, a.slug, a.title, a.description,
           a.created_at, a.updated_at, a.favorites_count,
           u.username, u.bio, u.image, a.tag_list,
           EXISTS (SELECT 1 FROM favorites f
                   WHERE f.user_id = (SELECT sqlc.narg(viewer_id)::bigint) AND f.article_id = a.id OFFSET 0) AS favorited,
           EXISTS (SELECT 1 FROM follows fo
                   WHERE fo.follower_id = (SELECT sqlc.narg(viewer_id)::bigint) AND fo.followee_id = a.author_id OFFSET 0) AS following
    FROM (
        SELECT page.id, page.created_at FROM (
            SELECT m.id, m.created_at FROM matching m
            ORDER BY m.created_at DESC, m.id DESC
            LIMIT (SELECT sqlc.arg(page_limit)::int) OFFSET (SELECT sqlc.arg(page_offset)::int)
        ) page LIMIT 100
    ) p
    CROSS JOIN LATERAL (SELECT ar.* FROM articles ar WHERE ar.id = p.id OFFSET 0) a
    CROSS JOIN LATERAL (SELECT us.* FROM users us WHERE us.id = a.author_id OFFSET 0) u
) x ON true
ORDER BY x.created_at DESC, x.id DESC;

-- name: ListArticlesByAuthorAndTag :many
-- The author's articles with the tag: the author's articles, each checked
-- on article_tags_pkey (OFFSET 0: a probe, not a hash of all the tag's
-- links), once, for the count and the page both. It costs what the author
-- wrote.
WITH matching AS MATERIALIZED (
    SELECT x.id, x.created_at FROM articles x
    WHERE x.author_id = (SELECT su.id FROM users su WHERE su.username = sqlc.arg(author))
      AND EXISTS (SELECT 1 FROM article_tags xt
                  WHERE xt.article_id = x.id
                    AND xt.tag_id = (SELECT st.id FROM tags st WHERE st.name = sqlc.arg(tag)) OFFSET 0)
)
SELECT total.n AS articles_count,
       COALESCE(x.id, 0)::bigint AS id, COALESCE(x.slug, '')::text AS slug,
       COALESCE(x.title, '')::text AS title, COALESCE(x.description, '')::text AS description,
       COALESCE(x.created_at, 'epoch')::timestamptz AS created_at,
       COALESCE(x.updated_at, 'epoch')::timestamptz AS updated_at,
       COALESCE(x.favorites_count, 0)::int AS favorites_count,
       COALESCE(x.username, '')::text AS username, COALESCE(x.bio, '')::text AS bio,
       COALESCE(x.image, '')::text AS image, COALESCE(x.tag_list, '{}')::text[] AS tag_list,
       COALESCE(x.favorited, false)::bool AS favorited, COALESCE(x.following, false)::bool AS following
FROM (SELECT count(*) AS n FROM matching) total
LEFT JOIN (
    SELECT a.id, a.slug, a.title, a.description,
           a.created_at, a.updated_at, a.favorites_count,
           u.username, u.bio, u.image, a.tag_list,
           EXISTS (SELECT 1 FROM favorites f
                   WHERE f.user_id = (SELECT sqlc.narg(viewer_id)::bigint) AND f.article_id = a.id OFFSET 0) AS favorited,
           EXISTS (SELECT 1 FROM follows fo
                   WHERE fo.follower_id = (SELECT sqlc.narg(viewer_id)::bigint) AND fo.followee_id = a.author_id OFFSET 0) AS following
    FROM (
        SELECT page.id, page.created_at FROM (
            SELECT m.id, m.created_at FROM matching m
            ORDER BY m.created_at DESC, m.id DESC
            LIMIT (SELECT sqlc.arg(page_limit)::int) OFFSET (SELECT sqlc.arg(page_offset)::int)
        ) page LIMIT 100
    ) p
    CROSS JOIN LATERAL (SELECT ar.* FROM articles ar WHERE ar.id = p.id OFFSET 0) a
    CROSS JOIN LATERAL (SELECT us.* FROM users us WHERE us.id = a.author_id OFFSET 0) u
) x ON true
ORDER BY x.created_at DESC, x.id DESC;

-- name: ListFeedArticles :many
-- The articles of the authors the follower follows. The page takes, per
-- followed author, at most limit + offset of their newest articles
-- (articles_author_created_idx), so a prolific author costs no more than a
-- page; the count is the sum of the followed authors' articles_count.
-- Every article here is by an author the follower follows, in the same
-- snapshot, so following is true without looking it up.
SELECT total.n AS articles_count,
       COALESCE(x.id, 0)::bigint AS id, COALESCE(x.slug, '')::text AS slug,
       COALESCE(x.title, '')::text AS title, COALESCE(x.description, '')::text AS description,
       COALESCE(x.created_at, 'epoch')::timestamptz AS created_at,
       COALESCE(x.updated_at, 'epoch')::timestamptz AS updated_at,
       COALESCE(x.favorites_count, 0)::int AS favorites_count,
       COALESCE(x.username, '')::text AS username, COALESCE(x.bio, '')::text AS bio,
       COALESCE(x.image, '')::text AS image, COALESCE(x.tag_list, '{}')::text[] AS tag_list,
       COALESCE(x.favorited, false)::bool AS favorited, COALESCE(x.following, false)::bool AS following
FROM (SELECT COALESCE(sum(fu.articles_count), 0)::bigint AS n
      FROM follows ff JOIN users fu ON fu.id = ff.followee_id
      WHERE ff.follower_id = sqlc.arg(follower_id)) total
LEFT JOIN (
    SELECT a.id, a.slug, a.title, a.description,
           a.created_at, a.updated_at, a.favorites_count,
           u.username, u.bio, u.image, a.tag_list,
           EXISTS (SELECT 1 FROM favorites f
                   WHERE f.user_id = (SELECT sqlc.narg(viewer_id)::bigint) AND f.article_id = a.id OFFSET 0) AS favorited,
           true AS following
    FROM (
        SELECT page.id, page.created_at FROM (
            SELECT w.id, w.created_at FROM follows fl
            CROSS JOIN LATERAL (
                SELECT y.id, y.created_at FROM articles y
                WHERE y.author_id = fl.followee_id
                ORDER BY y.created_at DESC, y.id DESC
                LIMIT (SELECT sqlc.arg(page_limit)::int + sqlc.arg(page_offset)::int)
            ) w
            WHERE fl.follower_id = sqlc.arg(follower_id)
            ORDER BY w.created_at DESC, w.id DESC
            LIMIT (SELECT sqlc.arg(page_limit)::int) OFFSET (SELECT sqlc.arg(page_offset)::int)
    ) page LIMIT 100
    ) p
    CROSS JOIN LATERAL (SELECT ar.* FROM articles ar WHERE ar.id = p.id OFFSET 0) a
    CROSS JOIN LATERAL (SELECT us.* FROM users us WHERE us.id = a.author_id OFFSET 0) u
) x ON true
ORDER BY x.created_at DESC, x.id DESC;


-- name: GetArticleBySlug :one
-- One article as the API shows it, with the viewer's flags (a NULL viewer
-- sees false). The viewer enters as "(SELECT $n)" so that the cached
-- generic plan serves anonymous readers too (see the lists above). The
-- author is looked up for the one article found (LATERAL ... OFFSET 0):
-- as a join, a small users table was read whole into a hash for each call.
SELECT a.id, a.slug, a.title, a.description, a.body,
       a.created_at, a.updated_at, a.favorites_count,
       u.username, u.bio, u.image, a.tag_list,
       EXISTS (SELECT 1 FROM favorites f
               WHERE f.user_id = (SELECT sqlc.narg(viewer_id)::bigint) AND f.article_id = a.id) AS favorited,
       EXISTS (SELECT 1 FROM follows fo
               WHERE fo.follower_id = (SELECT sqlc.narg(viewer_id)::bigint) AND fo.followee_id = a.author_id) AS following
FROM articles a
CROSS JOIN LATERAL (SELECT us.username, us.bio, us.image FROM users us WHERE us.id = a.author_id OFFSET 0) u
WHERE a.slug = sqlc.arg(slug);

-- name: GetArticleOwnerForUpdate :one
-- Locks the article against concurrent edits and deletion for the rest of
-- the transaction.
SELECT id, author_id, title, slug FROM articles WHERE slug = sqlc.arg(slug) FOR UPDATE;

-- name: GetArticleOwner :one
SELECT id, author_id FROM articles WHERE slug = sqlc.arg(slug);

-- name: CreateArticle :exec
-- Sent in one pipeline with the statements after it (its tags, linked by
-- slug, and the read of the new article), which PostgreSQL runs as one
-- implicit transaction: the counter rows its triggers lock are held for
-- that one round trip, not for several.
INSERT INTO articles (slug, author_id, title, description, body)
VALUES (sqlc.arg(slug), sqlc.arg(author_id), sqlc.arg(title), sqlc.arg(description), sqlc.arg(body));

-- name: UpdateArticle :exec
-- Changes the fields given (NULL keeps the current value).
UPDATE articles
SET slug        = sqlc.arg(slug),
    title       = COALESCE(sqlc.narg(title), title),
    description = COALESCE(sqlc.narg(description), description),
    body        = COALESCE(sqlc.narg(body), body),
    updated_at  = now()
WHERE id = sqlc.arg(id);

-- name: DeleteArticle :execrows
-- Comments, favorites and tag links go with it (ON DELETE CASCADE), in the
-- same statement, and triggers lower the counters they were in.
DELETE FROM articles WHERE slug = sqlc.arg(slug) AND author_id = sqlc.arg(author_id);

-- name: CreateFavorite :execrows
-- Favorites the article with the slug, in one statement: 0 rows when there
-- is no such article or the favorite exists. The key-share lock, taken
-- before the favorite row, keeps the article from being deleted until the
-- statement commits, without blocking other favorites (they take no key
-- lock). The counters follow by trigger (schema/0007); the article's
-- created_at is copied here rather than looked up again by trigger
-- (schema/0006).
WITH a AS (SELECT id, created_at FROM articles WHERE slug = sqlc.arg(slug) FOR KEY SHARE)
INSERT INTO favorites (user_id, article_id, article_created_at)
SELECT sqlc.arg(user_id), a.id, a.created_at FROM a
ON CONFLICT DO NOTHING;

-- name: DeleteFavorite :execrows
-- Unfavorites the article with the slug; 0 rows when there is no such
-- article or no such favorite. Locks as CreateFavorite does.
WITH a AS (SELECT id FROM articles WHERE slug = sqlc.arg(slug) FOR KEY SHARE)
DELETE FROM favorites f USING a
WHERE f.user_id = sqlc.arg(user_id) AND f.article_id = a.id;
