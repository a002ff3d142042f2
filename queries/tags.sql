-- name: ListTags :many
-- Tags in use by at least one article, most used first.
SELECT t.name
FROM tags t
JOIN article_tags at ON at.tag_id = t.id
GROUP BY t.id, t.name
ORDER BY count(*) DESC, t.name
LIMIT 1000;

-- name: CreateTags :exec
-- Makes sure every name exists as a tag. Names are inserted in sorted order
-- so that two transactions adding overlapping tag sets lock them in the same
-- order and cannot deadlock.
INSERT INTO tags (name)
SELECT DISTINCT n FROM unnest(sqlc.arg(names)::text[]) AS n
ORDER BY n
ON CONFLICT (name) DO NOTHING;

-- name: LinkArticleTags :exec
-- Attaches the tags to the article in the given order. Run after CreateTags
-- as a separate statement, so that tags another transaction committed
-- meanwhile are visible.
INSERT INTO article_tags (article_id, tag_id, position)
SELECT sqlc.arg(article_id)::bigint, t.id, n.ord
FROM unnest(sqlc.arg(names)::text[]) WITH ORDINALITY AS n(name, ord)
JOIN tags t ON t.name = n.name;

-- name: UnlinkArticleTags :exec
DELETE FROM article_tags WHERE article_id = $1;
