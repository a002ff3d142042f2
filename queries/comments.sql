-- name: ListComments :many
-- An article's comments, newest first, with the viewer's following flag.
SELECT c.id, c.body, c.created_at, c.updated_at,
       u.username, u.bio, u.image,
       EXISTS (SELECT 1 FROM follows fo
               WHERE fo.follower_id = sqlc.narg(viewer_id) AND fo.followee_id = c.author_id) AS following
FROM comments c
JOIN users u ON u.id = c.author_id
WHERE c.article_id = sqlc.arg(article_id)
ORDER BY c.created_at DESC, c.id DESC;

-- name: CreateComment :one
-- Adds a comment to the article with the slug; no row when there is no such
-- article. The key-share lock makes a concurrent deletion of the article
-- either wait for this insert or win before it (then: no row, not an error).
-- Nobody follows themselves: following is false, and the row has the
-- columns of ListComments.
WITH a AS (
    SELECT id FROM articles WHERE slug = sqlc.arg(slug) FOR KEY SHARE
), c AS (
    INSERT INTO comments (article_id, author_id, body)
    SELECT a.id, sqlc.arg(author_id), sqlc.arg(body) FROM a
    RETURNING id, author_id, body, created_at, updated_at
)
SELECT c.id, c.body, c.created_at, c.updated_at, u.username, u.bio, u.image, false AS following
FROM c JOIN users u ON u.id = c.author_id;

-- name: DeleteComment :execrows
-- Deletes the comment when it belongs to the article with the slug and the
-- caller wrote either the comment or the article (authors moderate the
-- comments on their articles).
DELETE FROM comments c
USING articles a
WHERE c.id = sqlc.arg(id)
  AND a.id = c.article_id
  AND a.slug = sqlc.arg(slug)
  AND sqlc.arg(caller_id) IN (c.author_id, a.author_id);

-- name: GetCommentOwner :one
-- The author of a comment on the article with the slug; no row when either
-- does not exist or the comment belongs to another article.
SELECT c.author_id
FROM comments c JOIN articles a ON a.id = c.article_id
WHERE a.slug = sqlc.arg(slug) AND c.id = sqlc.arg(id);

-- name: GetArticleID :one
SELECT id FROM articles WHERE slug = sqlc.arg(slug);
