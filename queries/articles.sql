-- name: ListArticles :many
-- A page of articles with everything a list item shows, and the number of
-- articles matching the filters, in one statement. Every filter is optional
-- (NULL = not filtering); PostgreSQL folds the `IS NULL OR` tests away when
-- it plans for the actual parameters (see docs/PERFORMANCE.md). With at
-- most one filter the number is a counter that triggers keep in the
-- writing transactions (schema/0002_article_counts.sql): the total, the
-- tag's, the author's or the favoriter's; an unknown tag or user counts 0.
-- Only combined filters count the matching articles. The count comes back
-- even when the page is past the end: on one row whose article columns
-- are NULL.
WITH filtered AS NOT MATERIALIZED (
    SELECT a.id, a.created_at
    FROM articles a
    WHERE (sqlc.narg(author)::text IS NULL
           OR a.author_id = (SELECT u.id FROM users u WHERE u.username = sqlc.narg(author)))
      AND (sqlc.narg(tag)::text IS NULL
           OR a.id IN (SELECT at.article_id FROM article_tags at
                       WHERE at.tag_id = (SELECT t.id FROM tags t WHERE t.name = sqlc.narg(tag))))
      AND (sqlc.narg(favorited)::text IS NULL
           OR a.id IN (SELECT f.article_id FROM favorites f
                       WHERE f.user_id = (SELECT u.id FROM users u WHERE u.username = sqlc.narg(favorited))))
),
page AS (
    SELECT id, created_at FROM filtered
    ORDER BY created_at DESC, id DESC
    LIMIT sqlc.arg(page_limit)::int OFFSET sqlc.arg(page_offset)::int
)
SELECT total.n AS articles_count,
       a.id, a.slug, a.title, a.description,
       a.created_at, a.updated_at, a.favorites_count,
       u.username, u.bio, u.image,
       COALESCE((SELECT array_agg((SELECT t.name FROM tags t WHERE t.id = at.tag_id)
                           ORDER BY (SELECT t.name FROM tags t WHERE t.id = at.tag_id) COLLATE "C")
                 FROM article_tags at
                 WHERE at.article_id = a.id), '{}')::text[] AS tag_list,
       EXISTS (SELECT 1 FROM favorites f
               WHERE f.user_id = sqlc.narg(viewer_id) AND f.article_id = a.id) AS favorited,
       EXISTS (SELECT 1 FROM follows fo
               WHERE fo.follower_id = sqlc.narg(viewer_id) AND fo.followee_id = a.author_id) AS following
FROM (SELECT (CASE
          WHEN sqlc.narg(author)::text IS NULL AND sqlc.narg(tag)::text IS NULL AND sqlc.narg(favorited)::text IS NULL
            THEN (SELECT c.articles_count FROM article_totals c)
          WHEN sqlc.narg(tag)::text IS NULL AND sqlc.narg(favorited)::text IS NULL
            THEN COALESCE((SELECT u.articles_count FROM users u WHERE u.username = sqlc.narg(author)), 0)
          WHEN sqlc.narg(author)::text IS NULL AND sqlc.narg(favorited)::text IS NULL
            THEN COALESCE((SELECT t.articles_count FROM tags t WHERE t.name = sqlc.narg(tag)), 0)
          WHEN sqlc.narg(author)::text IS NULL AND sqlc.narg(tag)::text IS NULL
            THEN COALESCE((SELECT u.favorites_count FROM users u WHERE u.username = sqlc.narg(favorited)), 0)
          ELSE (SELECT count(*) FROM filtered)
      END)::bigint AS n) total
LEFT JOIN page p ON true
LEFT JOIN articles a ON a.id = p.id
LEFT JOIN users u ON u.id = a.author_id
ORDER BY p.created_at DESC, p.id DESC;

-- name: ListFeedArticles :many
-- ListArticles for the authors the follower follows: the same columns and
-- the same NULL row for a page past the end. Kept apart from ListArticles
-- because a semi-join on follows (follows_pkey, then
-- articles_author_created_idx per followee) needs the condition outside an
-- OR, which an optional filter cannot give.
WITH filtered AS NOT MATERIALIZED (
    SELECT a.id, a.created_at
    FROM articles a
    WHERE a.author_id IN (SELECT fo.followee_id FROM follows fo WHERE fo.follower_id = sqlc.arg(follower_id))
),
page AS (
    SELECT id, created_at FROM filtered
    ORDER BY created_at DESC, id DESC
    LIMIT sqlc.arg(page_limit)::int OFFSET sqlc.arg(page_offset)::int
)
SELECT total.n AS articles_count,
       a.id, a.slug, a.title, a.description,
       a.created_at, a.updated_at, a.favorites_count,
       u.username, u.bio, u.image,
       COALESCE((SELECT array_agg((SELECT t.name FROM tags t WHERE t.id = at.tag_id)
                           ORDER BY (SELECT t.name FROM tags t WHERE t.id = at.tag_id) COLLATE "C")
                 FROM article_tags at
                 WHERE at.article_id = a.id), '{}')::text[] AS tag_list,
       EXISTS (SELECT 1 FROM favorites f
               WHERE f.user_id = sqlc.narg(viewer_id) AND f.article_id = a.id) AS favorited,
       EXISTS (SELECT 1 FROM follows fo
               WHERE fo.follower_id = sqlc.narg(viewer_id) AND fo.followee_id = a.author_id) AS following
FROM (SELECT count(*) AS n FROM filtered) total
LEFT JOIN page p ON true
LEFT JOIN articles a ON a.id = p.id
LEFT JOIN users u ON u.id = a.author_id
ORDER BY p.created_at DESC, p.id DESC;


-- name: GetArticleBySlug :one
-- One article as the API shows it, with the viewer's flags (a NULL viewer
-- sees false).
SELECT a.id, a.slug, a.title, a.description, a.body,
       a.created_at, a.updated_at, a.favorites_count,
       u.username, u.bio, u.image,
       COALESCE((SELECT array_agg((SELECT t.name FROM tags t WHERE t.id = at.tag_id)
                           ORDER BY (SELECT t.name FROM tags t WHERE t.id = at.tag_id) COLLATE "C")
                 FROM article_tags at
                 WHERE at.article_id = a.id), '{}')::text[] AS tag_list,
       EXISTS (SELECT 1 FROM favorites f
               WHERE f.user_id = sqlc.narg(viewer_id) AND f.article_id = a.id) AS favorited,
       EXISTS (SELECT 1 FROM follows fo
               WHERE fo.follower_id = sqlc.narg(viewer_id) AND fo.followee_id = a.author_id) AS following
FROM articles a
JOIN users u ON u.id = a.author_id
WHERE a.slug = sqlc.arg(slug);

-- name: GetArticleOwnerForUpdate :one
-- Locks the article against concurrent edits and deletion for the rest of
-- the transaction.
SELECT id, author_id, title, slug FROM articles WHERE slug = $1 FOR UPDATE;

-- name: GetArticleOwner :one
SELECT id, author_id FROM articles WHERE slug = $1;

-- name: LockArticleBySlug :one
-- Keeps the article from being deleted until the transaction ends, without
-- blocking other favorites (they take no key lock).
SELECT id FROM articles WHERE slug = $1 FOR KEY SHARE;

-- name: CreateArticle :one
INSERT INTO articles (slug, author_id, title, description, body)
VALUES ($1, $2, $3, $4, $5)
RETURNING id;

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
DELETE FROM articles WHERE slug = $1 AND author_id = $2;

-- name: CreateFavorite :exec
-- favorites_count follows by trigger (schema/0003).
INSERT INTO favorites (user_id, article_id) VALUES ($1, $2)
ON CONFLICT DO NOTHING;

-- name: DeleteFavorite :exec
DELETE FROM favorites WHERE user_id = $1 AND article_id = $2;
