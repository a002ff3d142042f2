package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// profile is the size and shape of a seeded data set.
type profile struct {
	name      string
	users     int
	articles  int
	comments  int
	favorites int
	// prolific: when > 0, half of the articles are written by this many
	// authors (users 1..prolific), the other half by anyone.
	prolific int
	// heavy: the favorites of the heavy favoriter (user 3).
	heavy int
	// feedFollows: how many authors the feed user (user 1) follows.
	feedFollows int
	// follows: how many other users everyone else follows.
	follows int
}

var profiles = map[string]profile{
	"small": {name: "small", users: 20, articles: 200, comments: 150, favorites: 300, feedFollows: 5, follows: 3},
	"big": {name: "big", users: 10_000, articles: 100_000, comments: 75_000, favorites: 150_000,
		prolific: 100, heavy: 500, feedFollows: 20, follows: 10},
}

// password is every seeded user's password; the hash uses bcrypt's lowest
// cost so that the bench's logins are quick.
const password = "bench-password"

// tagNames are the ~50 tags articles draw 1-4 of.
var tagNames = strings.Fields(`go rust python java kotlin swift ruby elixir haskell scala
	postgres mysql sqlite redis kafka docker kubernetes linux nginx http
	json grpc graphql rest api web frontend backend devops cloud
	testing perf security auth crypto ml data design ux mobile
	dragons training career books music travel food health sports news`)

// seedSQL fills a migrated, empty sophsapp database with p. Everything goes
// through the tables' triggers, as the API's writes do: the counters, the
// article tag arrays and the denormalised dates come out as the API would
// leave them. Draws are deterministic (setseed).
func seedSQL(p profile, hash string) string {
	tags := make([]string, len(tagNames))
	for i, t := range tagNames {
		tags[i] = "('" + t + "')"
	}
	author := "1 + (g * 7919) % " + fmt.Sprint(p.users)
	if p.prolific > 0 {
		author = fmt.Sprintf("CASE WHEN g %% 2 = 0 THEN 1 + (g / 2) %% %d ELSE 1 + (g * 7919) %% %d END", p.prolific, p.users)
	}
	return fmt.Sprintf(`
SELECT setseed(0.42);
INSERT INTO users (username, email, password_hash, bio, created_at)
SELECT 'user' || g, 'user' || g || '@example.com', '%[1]s',
       CASE WHEN g %% 3 = 0 THEN 'I write about things, number ' || g ELSE '' END,
       timestamptz '2026-01-01 00:00:00Z' + g * interval '1 second'
FROM generate_series(1, %[2]d) g;

INSERT INTO follows (follower_id, followee_id)
SELECT 1, 2 + (k * 37) %% (%[2]d - 1) FROM generate_series(1, %[7]d) k
UNION
SELECT u, 1 + (u * 37 + k * 101) %% %[2]d FROM generate_series(2, %[2]d) u, generate_series(1, %[8]d) k
WHERE 1 + (u * 37 + k * 101) %% %[2]d <> u
ON CONFLICT DO NOTHING;

INSERT INTO tags (name) VALUES %[9]s;

INSERT INTO articles (slug, author_id, title, description, body, created_at, updated_at)
SELECT 'article-' || g || '-' || w[1] || '-' || w[2], %[10]s,
       'Article ' || g || ' ' || w[1] || ' ' || w[2] || ' ' || w[3],
       array_to_string(w[4:11], ' '),
       repeat(array_to_string(w, ' ') || ' ', 10),
       timestamptz '2026-02-01 00:00:00Z' + g * interval '1 second',
       timestamptz '2026-02-01 00:00:00Z' + g * interval '1 second'
FROM generate_series(1, %[3]d) g,
     LATERAL (SELECT array_agg((ARRAY['lorem','ipsum','dolor','sit','amet','consectetur','adipiscing','elit',
                                      'sed','do','eiusmod','tempor','incididunt','ut','labore','magna'])[1 + floor(random() * 16)::int]) AS w
              FROM generate_series(1, 12 + (g %% 2) * 0)) words;

INSERT INTO article_tags (article_id, tag_id, position, article_created_at)
SELECT a.id, t.id, row_number() OVER (PARTITION BY a.id ORDER BY t.r), a.created_at
FROM articles a
CROSS JOIN LATERAL (SELECT id, random() + a.id * 0 AS r FROM tags ORDER BY 2 LIMIT 1 + (a.id * 13) %% 4) t;

INSERT INTO comments (article_id, author_id, body, created_at, updated_at)
SELECT 1 + floor(random() * %[3]d)::int, 1 + floor(random() * %[2]d)::int,
       'A comment, number ' || g || ', with a few words in it to read.',
       timestamptz '2026-06-01 00:00:00Z' + g * interval '1 second',
       timestamptz '2026-06-01 00:00:00Z' + g * interval '1 second'
FROM generate_series(1, %[4]d) g;
INSERT INTO comments (article_id, author_id, body)
SELECT %[3]d / 2, 1 + g, 'A comment on the sample article, number ' || g
FROM generate_series(1, 5) g;

CREATE TEMP TABLE seed_favorites AS
SELECT user_id, article_id, row_number() OVER (PARTITION BY user_id ORDER BY article_id) AS rank
FROM (SELECT 3 AS user_id, 1 + (g * 197) %% %[3]d AS article_id FROM generate_series(1, %[6]d) g
      UNION
      (SELECT DISTINCT 1 + floor(random() * %[2]d)::int, 1 + floor(random() * %[3]d)::int
       FROM generate_series(1, %[5]d) g
       LIMIT %[5]d - %[6]d)) f;
%[11]s
DROP TABLE seed_favorites;
`, hash, p.users, p.articles, p.comments, p.favorites, p.heavy, p.feedFollows, p.follows,
		strings.Join(tags, ","), author, favoriteBatches())
}

// favoriteBatches inserts the favorites a user's first, second, ... at a
// time, each batch a statement (and transaction) of its own, as users
// favorite over time: one statement giving a user many favorites updates
// that user's counter row again and again within one transaction.
func favoriteBatches() string {
	var b strings.Builder
	batch := func(cond string) {
		fmt.Fprintf(&b, `INSERT INTO favorites (user_id, article_id, article_created_at)
SELECT s.user_id, s.article_id, a.created_at FROM seed_favorites s JOIN articles a ON a.id = s.article_id
WHERE %s ORDER BY s.article_id
ON CONFLICT DO NOTHING;
`, cond)
	}
	for k := 1; k <= 40; k++ {
		batch(fmt.Sprintf("s.rank = %d", k))
	}
	batch("s.rank > 40")
	return b.String()
}

// seed creates database name on the cluster at adminURL, migrates it and
// fills it with p. With ceilingDir set, it also loads the reference
// server's schema into the schema "ceiling" of the same database and
// copies the same rows into it.
func seed(ctx context.Context, b *bench, name string, p profile) (string, error) {
	t0 := time.Now()
	if err := pgtest.Exec(ctx, b.cluster.URL("postgres"), "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	url := b.cluster.URL(name)
	if err := migrate(ctx, url); err != nil {
		return "", err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	// One statement (one transaction) at a time, timed per table.
	var tables []string
	took := map[string]time.Duration{}
	for _, stmt := range strings.Split(seedSQL(p, string(hash)), ";\n") {
		if stmt = strings.TrimSpace(stmt); stmt == "" {
			continue
		}
		t := time.Now()
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return "", fmt.Errorf("seed %s: %w\n%s", name, err, stmt)
		}
		if f := strings.Fields(stmt); len(f) > 2 && f[0] == "INSERT" {
			if _, ok := took[f[2]]; !ok {
				tables = append(tables, f[2])
			}
			took[f[2]] += time.Since(t)
		}
	}
	var steps []string
	for _, t := range tables {
		steps = append(steps, fmt.Sprintf("%s %s", t, took[t].Round(10*time.Millisecond)))
	}
	b.logf("seed %s: %s", name, strings.Join(steps, ", "))
	if b.ceilingDir != "" {
		schema, err := os.ReadFile(filepath.Join(b.ceilingDir, "schema.sql"))
		if err != nil {
			return "", err
		}
		if err := pgtest.Exec(ctx, url, "CREATE SCHEMA ceiling; SET search_path = ceiling;\n"+string(schema)+ceilingCopy); err != nil {
			return "", fmt.Errorf("ceiling schema: %w", err)
		}
	}
	if err := pgtest.Exec(ctx, url, "VACUUM ANALYZE"); err != nil {
		return "", err
	}
	b.logf("seeded %s (%d users, %d articles) in %s", name, p.users, p.articles, time.Since(t0).Round(100*time.Millisecond))
	return url, nil
}

// ceilingCopy copies the seeded rows into the reference server's schema
// (search_path is "ceiling" when it runs).
const ceilingCopy = `
INSERT INTO ceiling.users (id, username, email, password_hash, bio, image, created_at)
SELECT id, username, email, password_hash, nullif(bio, ''), nullif(image, ''), created_at FROM public.users;
INSERT INTO ceiling.follows (follower_id, followee_id) SELECT follower_id, followee_id FROM public.follows;
INSERT INTO ceiling.articles (id, slug, title, description, body, author_id, created_at, updated_at)
SELECT id, slug, title, description, body, author_id, created_at, updated_at FROM public.articles;
INSERT INTO ceiling.tags (id, name) SELECT id, name FROM public.tags;
INSERT INTO ceiling.article_tags (article_id, tag_id, position) SELECT article_id, tag_id, position FROM public.article_tags;
INSERT INTO ceiling.favorites (user_id, article_id) SELECT user_id, article_id FROM public.favorites;
INSERT INTO ceiling.comments (id, article_id, author_id, body, created_at, updated_at)
SELECT id, article_id, author_id, body, created_at, updated_at FROM public.comments;
`
