package httpapi

import (
	"context"
	"time"

	"github.com/sophsapp/sophsapp/gen/api"
)

// healthTimeout bounds the database ping of a health check.
const healthTimeout = 900 * time.Millisecond

// GetHealth handles GET /api/health. The status is the primary's: a
// replica that is down or lagging is reported, not fatal, since the
// primary answers its reads. Replicas are reported as the probe last saw
// them, so health never waits on one. While the process drains before
// stopping it answers 503 "draining", whatever the database's state, so
// that load balancers stop sending it new work.
func (s *Server) GetHealth(ctx context.Context, _ api.GetHealthRequestObject) (api.GetHealthResponseObject, error) {
	replicas := s.replicaHealth()
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	database := api.HealthDatabaseOk
	if err := s.primary.pool.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "health: database unavailable", "error", err.Error(), "request_id", RequestID(ctx))
		database = api.HealthDatabaseUnavailable
	}
	switch {
	case s.draining.Load():
		return api.GetHealth503JSONResponse{Status: api.HealthStatusDraining, Database: database, Version: s.version, Replicas: replicas}, nil
	case database != api.HealthDatabaseOk:
		return api.GetHealth503JSONResponse{Status: api.HealthStatusUnavailable, Database: database, Version: s.version, Replicas: replicas}, nil
	}
	return api.GetHealth200JSONResponse{Status: api.HealthStatusOk, Database: database, Version: s.version, Replicas: replicas}, nil
}

// replicaHealth reports each configured replica; nil when there is none.
func (s *Server) replicaHealth() *[]api.ReplicaHealth {
	if !s.replicas.Configured() {
		return nil
	}
	status := s.replicas.Status()
	out := make([]api.ReplicaHealth, len(status))
	for i, r := range status {
		out[i] = api.ReplicaHealth{Name: r.Name, State: api.ReplicaHealthState(r.State)}
		if r.LagKnown {
			lag := r.Lag.Seconds()
			out[i].LagSeconds = &lag
		}
	}
	return &out
}
