package httpapi

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sophsapp/sophsapp/gen/api"
	"github.com/sophsapp/sophsapp/gen/db"
	"github.com/sophsapp/sophsapp/internal/database"
)

// GetTags handles GET /api/tags. The answer is the same for every caller
// and changes only when an article's tags do, so it is kept in memory
// while the database's notifications say when to drop it (tagList).
// Otherwise it is read like any other answer.
func (s *Server) GetTags(ctx context.Context, _ api.GetTagsRequestObject) (api.GetTagsResponseObject, error) {
	if tags, ok := s.tags.cached(); ok {
		return api.GetTags200JSONResponse{Tags: tags}, nil
	}
	gen, live := s.tags.begin()
	var tags []string
	var err error
	if live {
		// Read from the primary, the notifications' source: a
		// replica's answer may predate the last one.
		tags, err = s.q.ListTags(ctx)
	} else {
		err = s.read(ctx, func(ctx context.Context, q *db.Queries) (err error) {
			tags, err = q.ListTags(ctx)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	s.tags.keep(gen, tags)
	return api.GetTags200JSONResponse{Tags: tags}, nil
}

// tagList keeps the answer of GET /api/tags in memory, for as long as
// nothing may have changed it. Every statement that writes to tags
// notifies the channel tags_changed when it commits (schema/0009), and a
// database.Listener relays those notifications to every instance:
//
//   - a notification drops the kept answer;
//   - nothing is kept while the Listener is not live (not yet started,
//     its session lost, or refused: through a pooler, or with the
//     trigger disabled): every request reads the database, as if there
//     were no tagList;
//   - an answer read before a notification, or before the Listener last
//     went live, is not kept: each of those bumps gen, and keep only takes
//     an answer read under the gen it was read after.
//
// A notification reaches the other instances a moment after the commit;
// the instance that made the change drops its answer itself
// (tagsChanged), so a caller always sees their own change at once.
type tagList struct {
	// q sends the Listener's probe (schema/0010).
	q *db.Queries

	kept atomic.Pointer[[]string]
	mu   sync.Mutex
	gen  uint64
	live bool
}

var _ database.Subscriber = (*tagList)(nil)

// cached returns the kept answer, if there is one.
func (c *tagList) cached() ([]string, bool) {
	if t := c.kept.Load(); t != nil {
		return *t, true
	}
	return nil, false
}

// begin is called before reading the tags from the database: it returns
// the generation to hand to keep, and whether the Listener is live.
func (c *tagList) begin() (gen uint64, live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.live
}

// keep keeps tags, read after begin returned gen, unless something may
// have changed them since.
func (c *tagList) keep(gen uint64, tags []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live && c.gen == gen {
		c.kept.Store(&tags)
	}
}

// drop forgets the kept answer and any read in flight.
func (c *tagList) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.kept.Store(nil)
}

// Probe implements database.Subscriber.
func (c *tagList) Probe(ctx context.Context, payload string) error {
	return c.q.ProbeTagsChanged(ctx, payload)
}

// Notified implements database.Subscriber.
func (c *tagList) Notified() { c.drop() }

// Live implements database.Subscriber.
func (c *tagList) Live(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.live = live
	c.kept.Store(nil)
}

// tagsChanged is called after every write that may have changed the tags
// (after its commit, or its failure), so that this instance's next
// GET /api/tags reads them again without waiting for the notification.
func (s *Server) tagsChanged() { s.tags.drop() }
