-- name: ListTags :one
-- Tags in use by at least one article, most used first, by the counter
-- the article_tags triggers keep (schema/0002_article_counts.sql), as one
-- array: one row to read instead of one per tag. ARRAY() keeps the order of
-- its subquery, which spares array_agg a second sort.
SELECT ARRAY(
    SELECT name
    FROM tags
    WHERE articles_count > 0
    ORDER BY articles_count DESC, name
    LIMIT 1000)::text[] AS names;

-- name: CreateTags :exec
-- Makes sure every name exists as a tag. Names are inserted in sorted order
-- so that two transactions adding overlapping tag sets lock them in the same
-- order and cannot deadlock.
INSERT INTO tags (name)
SELECT DISTINCT n FROM unnest(sqlc.arg(names)::text[]) AS n
ORDER BY n
ON CONFLICT (name) DO NOTHING;

-- name: LinkArticleTags :exec
-- Attaches the tags to the article with the slug, in the given order. Run
-- after CreateTags as a separate statement, so that tags another
-- transaction committed meanwhile are visible. The article is found by
-- slug because a create sends this in one pipeline with its insert, before
-- its id is known (an update passes the slug it has just set). The
-- article's created_at is copied for the tag's newest-first index
-- (schema/0006).
INSERT INTO article_tags (article_id, tag_id, position, article_created_at)
SELECT a.id, t.id, n.ord, a.created_at
FROM unnest(sqlc.arg(names)::text[]) WITH ORDINALITY AS n(name, ord)
JOIN tags t ON t.name = n.name
JOIN articles a ON a.slug = sqlc.arg(slug);

-- name: UnlinkArticleTags :exec
DELETE FROM article_tags WHERE article_id = sqlc.arg(article_id);

-- name: LockTagsOfArticle :exec
-- Locks, in id order, the tags the article has and the tags named, before
-- its links are replaced. Unlinking and linking each change the tags'
-- articles_count (by trigger), locking as they go; without this, two
-- articles swapping tags could each hold one tag the other waits for.
SELECT id FROM tags
WHERE name = ANY(sqlc.arg(names)::text[])
   OR id IN (SELECT at.tag_id FROM article_tags at WHERE at.article_id = sqlc.arg(article_id))
ORDER BY id
FOR NO KEY UPDATE;

-- name: ProbeTagsChanged :exec
-- Sends a notification on tags_changed with nonce as its payload, after
-- checking that the trigger that notifies every write to tags is enabled
-- (schema/0010): how an instance checks that those notifications reach it.
SELECT probe_tags_changed(sqlc.arg(nonce)::text);
