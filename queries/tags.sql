-- name: ListTags :many
-- Tags in use by at least one article, most used first.
SELECT t.name
FROM tags t
JOIN article_tags at ON at.tag_id = t.id
GROUP BY t.id, t.name
ORDER BY count(*) DESC, t.name
LIMIT 1000;
