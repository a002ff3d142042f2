package httpapi

import (
	"context"
	"time"

	"github.com/sophsapp/sophsapp/gen/api"
)

// healthTimeout bounds the database ping of a health check.
const healthTimeout = 900 * time.Millisecond

// GetHealth handles GET /api/health.
func (s *Server) GetHealth(ctx context.Context, _ api.GetHealthRequestObject) (api.GetHealthResponseObject, error) {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "health: database unavailable", "error", err.Error(), "request_id", RequestID(ctx))
		return api.GetHealth503JSONResponse{Status: api.HealthStatusUnavailable, Database: api.HealthDatabaseUnavailable, Version: s.version}, nil
	}
	return api.GetHealth200JSONResponse{Status: api.HealthStatusOk, Database: api.HealthDatabaseOk, Version: s.version}, nil
}
