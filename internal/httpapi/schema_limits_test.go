package httpapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sophsapp/sophsapp/internal/pgtest"
)

// TestSchemaRefusesValuesOutsideTheLimits writes past each limit the
// schema keeps (an article's texts and favorite count in domains,
// schema/0013; a user's favorite count in user_counts, schema/0012)
// straight in SQL, where the spec's validation does not stand in front:
// each write must fail with check_violation (which the API answers 422)
// and leave nothing behind, and the values at the limits must pass.
func TestSchemaRefusesValuesOutsideTheLimits(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })

	var userID, articleID int64
	if err := conn.QueryRow(ctx, `INSERT INTO users (username, email, password_hash) VALUES ('limits', 'limits@example.com', 'x') RETURNING id`).Scan(&userID); err != nil {
		t.Fatal(err)
	}
	// At every limit: accepted.
	if err := conn.QueryRow(ctx, `INSERT INTO articles (slug, author_id, title, description, body) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		strings.Repeat("s", 300), userID, strings.Repeat("é", 255), strings.Repeat("d", 1000), strings.Repeat("b", 100000)).Scan(&articleID); err != nil {
		t.Fatalf("an article at every limit: %v", err)
	}
	var counts int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM user_counts WHERE user_id = $1 AND favorites_count = 0`, userID).Scan(&counts); err != nil || counts != 1 {
		t.Fatalf("the new user's user_counts row: %d rows, %v", counts, err)
	}

	for _, c := range []struct {
		name, sql string
		args      []any
	}{
		{"empty slug", `UPDATE articles SET slug = '' WHERE id = $1`, []any{articleID}},
		{"slug of 301", `UPDATE articles SET slug = $2 WHERE id = $1`, []any{articleID, strings.Repeat("s", 301)}},
		{"empty title", `UPDATE articles SET title = '' WHERE id = $1`, []any{articleID}},
		{"title of 256", `UPDATE articles SET title = $2 WHERE id = $1`, []any{articleID, strings.Repeat("é", 256)}},
		{"description of 1001", `UPDATE articles SET description = $2 WHERE id = $1`, []any{articleID, strings.Repeat("d", 1001)}},
		{"body of 100001", `UPDATE articles SET body = $2 WHERE id = $1`, []any{articleID, strings.Repeat("b", 100001)}},
		{"new article with an empty title", `INSERT INTO articles (slug, author_id, title, description, body) VALUES ('other', $1, '', '', '')`, []any{userID}},
		{"article favorite count below zero", `UPDATE articles SET favorites_count = favorites_count - 1 WHERE id = $1`, []any{articleID}},
		{"user favorite count below zero", `UPDATE user_counts SET favorites_count = favorites_count - 1 WHERE user_id = $1`, []any{userID}},
	} {
		_, err := conn.Exec(ctx, c.sql, c.args...)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.CheckViolation {
			t.Errorf("%s: got %v, want check_violation (23514)", c.name, err)
		}
	}

	var slugLen, titleLen, favorites, userFavorites int
	if err := conn.QueryRow(ctx, `SELECT char_length(a.slug), char_length(a.title), a.favorites_count, uc.favorites_count
		FROM articles a JOIN user_counts uc ON uc.user_id = a.author_id WHERE a.id = $1`, articleID).Scan(&slugLen, &titleLen, &favorites, &userFavorites); err != nil {
		t.Fatal(err)
	}
	if slugLen != 300 || titleLen != 255 || favorites != 0 || userFavorites != 0 {
		t.Errorf("after the refused writes: slug %d, title %d characters, favorites %d / %d; want 300, 255, 0, 0", slugLen, titleLen, favorites, userFavorites)
	}
}
