-- name: GetProfileByUsername :one
-- following is whether viewer_id follows the user; false when viewer_id is
-- NULL (an anonymous request).
SELECT u.id,
       u.username,
       u.bio,
       u.image,
       EXISTS (
           SELECT 1
           FROM follows f
           WHERE f.follower_id = sqlc.narg(viewer_id)::bigint
             AND f.followee_id = u.id
       ) AS following
FROM users u
WHERE u.username = sqlc.arg(username);

-- name: CreateFollow :exec
-- Following twice is not an error: the first follow stands.
INSERT INTO follows (follower_id, followee_id)
VALUES (sqlc.arg(follower_id), sqlc.arg(followee_id))
ON CONFLICT DO NOTHING;

-- name: DeleteFollow :exec
DELETE FROM follows
WHERE follower_id = sqlc.arg(follower_id)
  AND followee_id = sqlc.arg(followee_id);
