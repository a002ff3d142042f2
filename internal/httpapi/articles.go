package httpapi

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/gen/db"
)

// defaultPageSize is the page size when the request gives no limit (the
// spec's default; the validator already bounds an explicit one).
const defaultPageSize = 20

// maxPageSize is the spec's largest limit; the list statements plan for it
// (queries/articles.sql).
const maxPageSize = 100

// slugAttempts bounds how often an article write is retried with a new
// slug after a collision on articles_slug_key.
const slugAttempts = 5

// pageBounds returns the limit and offset of a list request.
func pageBounds(limit, offset *int32) (int32, int32) {
	l, o := int32(defaultPageSize), int32(0)
	if limit != nil {
		l = min(*limit, maxPageSize)
	}
	if offset != nil {
		o = *offset
	}
	return l, o
}

// cleanTags trims each tag and drops repeats, keeping the first occurrence
// in the author's order. Tags are compared case-sensitively, as the tags
// table stores them: "Go" and "go" are two tags, here as in GET /api/tags.
func cleanTags(tags *[]string) []string {
	if tags == nil {
		return []string{}
	}
	out := make([]string, 0, len(*tags))
	seen := make(map[string]bool, len(*tags))
	for _, t := range *tags {
		t = strings.TrimSpace(t)
		if t == "" || seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
	}
	return out
}

// isSlugTaken reports whether err is a collision on articles_slug_key.
func isSlugTaken(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UniqueViolation && pgErr.ConstraintName == "articles_slug_key"
}

// retrySlug runs write (which picks its slug with slugCandidate) until it
// does not collide on articles_slug_key. Each attempt is its own
// transaction, so a collision with an existing article or a concurrent
// writer rolls back everything the attempt wrote before the next one
// starts, and never reaches the client as a 422.
func retrySlug(write func(attempt int) error) error {
	var err error
	for attempt := range slugAttempts {
		if err = write(attempt); !isSlugTaken(err) {
			return err
		}
	}
	return err
}

// setTags replaces the tags of the article (its id and current slug) with
// tags, in that order. The tags' articles_count follows by trigger
// (schema/0002_article_counts.sql). (A new article's tags are linked in
// CreateArticle's pipeline.)
func setTags(ctx context.Context, q *db.Queries, articleID int64, slug string, tags []string) error {
	if len(tags) > 0 {
		if err := q.CreateTags(ctx, tags); err != nil {
			return fmt.Errorf("create tags: %w", err)
		}
		// Unlinking and linking below each lock the counts of the tags
		// they touch; taking both sets first, in one ordered pass, keeps
		// two concurrent replacements from deadlocking.
		if err := q.LockTagsOfArticle(ctx, db.LockTagsOfArticleParams{ArticleID: articleID, Names: tags}); err != nil {
			return fmt.Errorf("lock tags: %w", err)
		}
	}
	if err := q.UnlinkArticleTags(ctx, articleID); err != nil {
		return fmt.Errorf("unlink tags: %w", err)
	}
	if len(tags) == 0 {
		return nil
	}
	if err := q.LinkArticleTags(ctx, db.LinkArticleTagsParams{Slug: slug, Names: tags}); err != nil {
		return fmt.Errorf("link tags: %w", err)
	}
	return nil
}

// articleBySlug loads one article as the caller sees it through q.
func articleBySlug(ctx context.Context, q *db.Queries, slug string) (api.Article, error) {
	a, err := q.GetArticleBySlug(ctx, db.GetArticleBySlugParams{Slug: slug, ViewerID: viewerOf(ctx)})
	if err != nil {
		return api.Article{}, fmt.Errorf("article %q: %w", slug, err)
	}
	return articleOf(a), nil
}

// listRow is any of the list statements' rows: they have the same
// columns, one statement per kind of list.
type listRow interface {
	db.ListArticlesRow | db.ListArticlesByTagRow | db.ListArticlesByAuthorRow |
		db.ListArticlesByFavoriterRow | db.ListArticlesByFavoriterFilteredRow |
		db.ListArticlesByAuthorAndTagRow | db.ListFeedArticlesRow
}

// articlePage turns the rows of a list statement into the response: the
// count is on every row, and a page past the end is a single row whose id
// is 0.
func articlePage[R listRow](rows []R) api.MultipleArticlesOKJSONResponse {
	out := api.MultipleArticlesOKJSONResponse{Articles: make([]api.ArticlePreview, 0, len(rows))}
	for _, row := range rows {
		r := db.ListArticlesRow(row)
		out.ArticlesCount = int(r.ArticlesCount)
		if r.ID == 0 {
			continue
		}
		out.Articles = append(out.Articles, articlePreviewOf(r))
	}
	return out
}

// listArticles runs the list statement made for the filters present, each
// starting from the smallest set it can (queries/articles.sql): a single
// filter's own index, or for combined filters the favoriter's favorites,
// else the author's articles. Still one statement per page.
func listArticles(ctx context.Context, q *db.Queries, p api.GetArticlesParams) (api.MultipleArticlesOKJSONResponse, error) {
	limit, offset := pageBounds(p.Limit, p.Offset)
	viewer := viewerOf(ctx)
	switch {
	case p.Favorited != nil && (p.Author != nil || p.Tag != nil):
		rows, err := q.ListArticlesByFavoriterFiltered(ctx, db.ListArticlesByFavoriterFilteredParams{
			Favorited: *p.Favorited, Author: p.Author, Tag: p.Tag, ViewerID: viewer, PageLimit: limit, PageOffset: offset,
		})
		return articlePage(rows), err
	case p.Author != nil && p.Tag != nil:
		rows, err := q.ListArticlesByAuthorAndTag(ctx, db.ListArticlesByAuthorAndTagParams{
			Author: *p.Author, Tag: *p.Tag, ViewerID: viewer, PageLimit: limit, PageOffset: offset,
		})
		return articlePage(rows), err
	case p.Favorited != nil:
		rows, err := q.ListArticlesByFavoriter(ctx, db.ListArticlesByFavoriterParams{Favorited: *p.Favorited, ViewerID: viewer, PageLimit: limit, PageOffset: offset})
		return articlePage(rows), err
	case p.Author != nil:
		rows, err := q.ListArticlesByAuthor(ctx, db.ListArticlesByAuthorParams{Author: *p.Author, ViewerID: viewer, PageLimit: limit, PageOffset: offset})
		return articlePage(rows), err
	case p.Tag != nil:
		rows, err := q.ListArticlesByTag(ctx, db.ListArticlesByTagParams{Tag: *p.Tag, ViewerID: viewer, PageLimit: limit, PageOffset: offset})
		return articlePage(rows), err
	default:
		rows, err := q.ListArticles(ctx, db.ListArticlesParams{ViewerID: viewer, PageLimit: limit, PageOffset: offset})
		return articlePage(rows), err
	}
}

// GetArticles handles GET /api/articles: one query for the page and the
// total, whatever the page size.
func (s *Server) GetArticles(ctx context.Context, request api.GetArticlesRequestObject) (api.GetArticlesResponseObject, error) {
	var page api.MultipleArticlesOKJSONResponse
	err := s.read(ctx, func(ctx context.Context, q *db.Queries) (err error) {
		page, err = listArticles(ctx, q, request.Params)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list articles: %w", err)
	}
	return api.GetArticles200JSONResponse{MultipleArticlesOKJSONResponse: page}, nil
}

// GetArticlesFeed handles GET /api/articles/feed: articles by the users the
// caller follows, in one query like GetArticles.
func (s *Server) GetArticlesFeed(ctx context.Context, request api.GetArticlesFeedRequestObject) (api.GetArticlesFeedResponseObject, error) {
	me, err := currentUser(ctx)
	if err != nil {
		return nil, err
	}
	limit, offset := pageBounds(request.Params.Limit, request.Params.Offset)
	rows, err := s.q.ListFeedArticles(ctx, db.ListFeedArticlesParams{
		ViewerID:   &me.ID,
		FollowerID: me.ID,
		PageLimit:  limit,
		PageOffset: offset,
	})
	if err != nil {
		return nil, fmt.Errorf("list feed: %w", err)
	}
	return api.GetArticlesFeed200JSONResponse{MultipleArticlesOKJSONResponse: articlePage(rows)}, nil
}

// CreateArticle handles POST /api/articles. The article, its tags and the
// read of the result go in one pipeline (held), which PostgreSQL runs as
// one implicit transaction: all of it is written or none, and the locks
// its counters take (schema/0002) are held for one round trip. Every
// article insert queues on the same total, so that is what bounds how
// fast articles can be created.
func (s *Server) CreateArticle(ctx context.Context, request api.CreateArticleRequestObject) (api.CreateArticleResponseObject, error) {
	me, err := currentUser(ctx)
	if err != nil {
		return nil, err
	}
	in := request.Body.Article
	tags := cleanTags(in.TagList)
	if len(tags) > 0 {
		defer s.tagsChanged()
	}
	var article api.Article
	base := slugify(in.Title)
	err = retrySlug(func(attempt int) error {
		slug := slugCandidate(base, attempt)
		return retryAborted(func() error {
			q := db.New(&held{db: s.primary})
			// Held, not sent: their errors (a taken slug among them)
			// come with the read's. CreateTags runs before the links, as
			// its own statement, so that tags another transaction
			// committed meanwhile are visible to them.
			_ = q.CreateArticle(ctx, db.CreateArticleParams{
				Slug: slug, AuthorID: me.ID, Title: in.Title, Description: in.Description, Body: in.Body,
			})
			if len(tags) > 0 {
				_ = q.CreateTags(ctx, tags)
				_ = q.LinkArticleTags(ctx, db.LinkArticleTagsParams{Slug: slug, Names: tags})
			}
			var err error
			article, err = articleBySlug(ctx, q, slug)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("create article: %w", err)
	}
	return api.CreateArticle201JSONResponse{SingleArticleOKJSONResponse: api.SingleArticleOKJSONResponse{Article: article}}, nil
}

// GetArticle handles GET /api/articles/{slug}.
func (s *Server) GetArticle(ctx context.Context, request api.GetArticleRequestObject) (api.GetArticleResponseObject, error) {
	var article api.Article
	err := s.read(ctx, func(ctx context.Context, q *db.Queries) (err error) {
		article, err = articleBySlug(ctx, q, request.Slug)
		return err
	})
	if err != nil {
		return nil, err
	}
	return api.GetArticle200JSONResponse{SingleArticleOKJSONResponse: api.SingleArticleOKJSONResponse{Article: article}}, nil
}

// UpdateArticle handles PUT /api/articles/{slug}. A changed title gives a new
// slug; a given tagList replaces the tags. updatedAt moves on every update.
func (s *Server) UpdateArticle(ctx context.Context, request api.UpdateArticleRequestObject) (api.UpdateArticleResponseObject, error) {
	me, err := currentUser(ctx)
	if err != nil {
		return nil, err
	}
	in := request.Body.Article
	if in.TagList != nil {
		defer s.tagsChanged()
	}
	var article api.Article
	err = retrySlug(func(attempt int) error {
		return s.inTx(ctx, func(q *db.Queries) error {
			cur, err := q.GetArticleOwnerForUpdate(ctx, request.Slug)
			if err != nil {
				return fmt.Errorf("article %q: %w", request.Slug, err)
			}
			if cur.AuthorID != me.ID {
				return fmt.Errorf("update article %q of user %d: %w", request.Slug, cur.AuthorID, ErrForbidden)
			}
			slug := cur.Slug
			if in.Title != nil && *in.Title != cur.Title {
				if base := slugify(*in.Title); base != cur.Slug {
					slug = slugCandidate(base, attempt)
				}
			}
			err = q.UpdateArticle(ctx, db.UpdateArticleParams{
				ID: cur.ID, Slug: slug, Title: in.Title, Description: in.Description, Body: in.Body,
			})
			if err != nil {
				return fmt.Errorf("update article: %w", err)
			}
			if in.TagList != nil {
				if err := setTags(ctx, q, cur.ID, slug, cleanTags(in.TagList)); err != nil {
					return err
				}
			}
			article, err = articleBySlug(ctx, q, slug)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return api.UpdateArticle200JSONResponse{SingleArticleOKJSONResponse: api.SingleArticleOKJSONResponse{Article: article}}, nil
}

// DeleteArticle handles DELETE /api/articles/{slug}. One DELETE statement
// removes the article with its comments, favorites and tag links (the
// foreign keys cascade), and the counters' triggers run within it, so it is
// atomic without an explicit transaction.
func (s *Server) DeleteArticle(ctx context.Context, request api.DeleteArticleRequestObject) (api.DeleteArticleResponseObject, error) {
	me, err := currentUser(ctx)
	if err != nil {
		return nil, err
	}
	defer s.tagsChanged() // its tag links go with it
	n, err := s.q.DeleteArticle(ctx, db.DeleteArticleParams{Slug: request.Slug, AuthorID: me.ID})
	if err != nil {
		return nil, fmt.Errorf("delete article %q: %w", request.Slug, err)
	}
	if n == 0 {
		// Nothing deleted: either there is no such article or it is not
		// the caller's.
		owner, err := s.q.GetArticleOwner(ctx, request.Slug)
		if err != nil {
			return nil, fmt.Errorf("article %q: %w", request.Slug, err)
		}
		return nil, fmt.Errorf("delete article %q of user %d: %w", request.Slug, owner.AuthorID, ErrForbidden)
	}
	return api.DeleteArticle204Response{}, nil
}

// favorite adds (add true) or removes the caller's favorite and returns
// the article: two statements, sent in one pipeline (held), which
// PostgreSQL runs as one implicit transaction. The write is one statement
// (its counters follow by trigger within it), and the read after it sees
// it, so the answer shows the caller's favorite as it now is. Repeating a
// request changes nothing; no such article is a 404.
func (s *Server) favorite(ctx context.Context, slug string, add bool) (api.Article, error) {
	me, err := currentUser(ctx)
	if err != nil {
		return api.Article{}, err
	}
	var article api.Article
	err = retryAborted(func() error {
		q := db.New(&held{db: s.primary})
		// Held, not sent: their counts are unknown, and errors come with
		// the read's.
		if add {
			_, _ = q.CreateFavorite(ctx, db.CreateFavoriteParams{UserID: me.ID, Slug: slug})
		} else {
			_, _ = q.DeleteFavorite(ctx, db.DeleteFavoriteParams{UserID: me.ID, Slug: slug})
		}
		var err error
		article, err = articleBySlug(ctx, q, slug)
		return err
	})
	if err != nil {
		return api.Article{}, fmt.Errorf("favorite %q: %w", slug, err)
	}
	return article, nil
}

// CreateArticleFavorite handles POST /api/articles/{slug}/favorite.
func (s *Server) CreateArticleFavorite(ctx context.Context, request api.CreateArticleFavoriteRequestObject) (api.CreateArticleFavoriteResponseObject, error) {
	article, err := s.favorite(ctx, request.Slug, true)
	if err != nil {
		return nil, err
	}
	return api.CreateArticleFavorite200JSONResponse{SingleArticleOKJSONResponse: api.SingleArticleOKJSONResponse{Article: article}}, nil
}

// DeleteArticleFavorite handles DELETE /api/articles/{slug}/favorite.
func (s *Server) DeleteArticleFavorite(ctx context.Context, request api.DeleteArticleFavoriteRequestObject) (api.DeleteArticleFavoriteResponseObject, error) {
	article, err := s.favorite(ctx, request.Slug, false)
	if err != nil {
		return nil, err
	}
	return api.DeleteArticleFavorite200JSONResponse{SingleArticleOKJSONResponse: api.SingleArticleOKJSONResponse{Article: article}}, nil
}
