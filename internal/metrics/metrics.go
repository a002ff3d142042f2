// Package metrics exposes sophsapp's Prometheus metrics: HTTP requests by
// operation and status, requests in flight, the PostgreSQL pool, the Go
// runtime, the build, the read replicas and the sessions listening for
// notifications.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sophsapp/sophsapp/internal/database"
)

// Metrics holds the collectors of one process.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	// series keeps each (operation, method, status) triple's counter and
	// histogram once looked up: the label vectors hash and lock on every
	// lookup. Operations come from the spec and statuses from the
	// handlers, so the triples are few and fixed; a request that matched
	// no operation is one triple whatever its method or path.
	series sync.Map // seriesKey -> requestSeries
}

type seriesKey struct {
	operation, method string
	status            int
}

type requestSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// New registers the collectors; pool may be nil.
func New(version string, pool *pgxpool.Pool) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sophsapp_http_requests_total",
			Help: "HTTP requests answered, by spec operation, method and status.",
		}, []string{"operation", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sophsapp_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by spec operation and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"operation", "status"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sophsapp_http_requests_in_flight",
			Help: "HTTP requests being answered now.",
		}),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "sophsapp_build_info",
		Help:        "The running build; always 1.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	buildInfo.Set(1)
	m.reg.MustRegister(m.requests, m.duration, m.inFlight, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	if pool != nil {
		m.reg.MustRegister(poolCollector{pool})
	}
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// NoOperation is the operation label of requests that matched no
// operation of the spec, in the metrics and in the access log alike, so
// arbitrary paths cannot grow the label set.
const NoOperation = "none"

// Observe records one answered request. operation is the spec's
// operationId, or NoOperation (or "") for requests that matched none,
// whose method is counted as "other".
func (m *Metrics) Observe(operation, method string, status int, took time.Duration) {
	if operation == "" || operation == NoOperation {
		operation = NoOperation
		method = "other"
	}
	key := seriesKey{operation, method, status}
	v, ok := m.series.Load(key)
	if !ok {
		code := strconv.Itoa(status)
		v, _ = m.series.LoadOrStore(key, requestSeries{
			count:    m.requests.WithLabelValues(operation, method, code),
			duration: m.duration.WithLabelValues(operation, code),
		})
	}
	s := v.(requestSeries)
	s.count.Inc()
	s.duration.Observe(took.Seconds())
}

// InFlight returns the in-flight gauge.
func (m *Metrics) InFlight() prometheus.Gauge { return m.inFlight }

// poolCollector reads pgxpool's statistics at scrape time.
type poolCollector struct{ pool *pgxpool.Pool }

var (
	poolAcquired    = prometheus.NewDesc("sophsapp_db_pool_acquired_connections", "Connections in use.", nil, nil)
	poolIdle        = prometheus.NewDesc("sophsapp_db_pool_idle_connections", "Idle connections.", nil, nil)
	poolTotal       = prometheus.NewDesc("sophsapp_db_pool_total_connections", "Open connections, idle, in use or being made.", nil, nil)
	poolMax         = prometheus.NewDesc("sophsapp_db_pool_max_connections", "Pool size limit (DATABASE_MAX_CONNS).", nil, nil)
	poolAcquires    = prometheus.NewDesc("sophsapp_db_pool_acquires_total", "Connections acquired from the pool.", nil, nil)
	poolWaits       = prometheus.NewDesc("sophsapp_db_pool_acquire_waits_total", "Acquires that had to wait for a connection.", nil, nil)
	poolWaitSeconds = prometheus.NewDesc("sophsapp_db_pool_acquire_wait_seconds_total", "Time spent waiting for a connection.", nil, nil)
	poolAcquireSecs = prometheus.NewDesc("sophsapp_db_pool_acquire_seconds_total", "Time spent acquiring connections, waits included.", nil, nil)
	poolCanceled    = prometheus.NewDesc("sophsapp_db_pool_canceled_acquires_total", "Acquires abandoned because the request's context ended.", nil, nil)
)

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolAcquired, poolIdle, poolTotal, poolMax, poolAcquires, poolWaits, poolWaitSeconds, poolAcquireSecs, poolCanceled} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(poolAcquired, prometheus.GaugeValue, float64(s.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.IdleConns()))
	ch <- prometheus.MustNewConstMetric(poolTotal, prometheus.GaugeValue, float64(s.TotalConns()))
	ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(poolAcquires, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolWaitSeconds, prometheus.CounterValue, s.EmptyAcquireWaitTime().Seconds())
	ch <- prometheus.MustNewConstMetric(poolAcquireSecs, prometheus.CounterValue, s.AcquireDuration().Seconds())
	ch <- prometheus.MustNewConstMetric(poolCanceled, prometheus.CounterValue, float64(s.CanceledAcquireCount()))
}

// WatchReplicas exports the read replicas' state, lag and the reads each
// server answered; it does nothing when no replica is configured.
func (m *Metrics) WatchReplicas(r *database.Replicas) {
	if r.Configured() {
		m.reg.MustRegister(replicaCollector{r})
	}
}

// WatchListeners exports, for each Listener, whether it is live: while it
// is not, the answers it keeps fresh (the tag list) are read from the
// database on every request.
func (m *Metrics) WatchListeners(ls []*database.Listener) {
	for _, l := range ls {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "sophsapp_db_listening",
			Help:        "1 while the session listening for the channel's notifications is live, 0 otherwise.",
			ConstLabels: prometheus.Labels{"channel": l.Channel()},
		}, func() float64 {
			if l.Live() {
				return 1
			}
			return 0
		}))
	}
}

// replicaCollector reads the replicas' status at scrape time.
type replicaCollector struct{ r *database.Replicas }

var (
	replicaLag = prometheus.NewDesc("sophsapp_db_replica_lag_seconds",
		"How far the replica's replay is behind the primary, to within one probe interval; absent while unknown.", []string{"replica"}, nil)
	replicaState = prometheus.NewDesc("sophsapp_db_replica_state",
		"1 for the replica's current state (only ok serves reads), 0 for the others.", []string{"replica", "state"}, nil)
	replicaFallbacks = prometheus.NewDesc("sophsapp_db_replica_fallbacks_total",
		"Reads the replica could not answer and the primary answered instead.", []string{"replica"}, nil)
	reads = prometheus.NewDesc("sophsapp_db_reads_total",
		"Anonymous reads, by the server that answered them: primary or a replica's host:port.", []string{"server"}, nil)
)

func (replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{replicaLag, replicaState, replicaFallbacks, reads} {
		ch <- d
	}
}

func (c replicaCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(reads, prometheus.CounterValue, float64(c.r.PrimaryReads()), "primary")
	for _, s := range c.r.Status() {
		ch <- prometheus.MustNewConstMetric(reads, prometheus.CounterValue, float64(s.Reads), s.Name)
		ch <- prometheus.MustNewConstMetric(replicaFallbacks, prometheus.CounterValue, float64(s.Fallbacks), s.Name)
		if s.LagKnown {
			ch <- prometheus.MustNewConstMetric(replicaLag, prometheus.GaugeValue, s.Lag.Seconds(), s.Name)
		}
		for _, st := range database.ReplicaStates {
			v := 0.0
			if st == s.State {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(replicaState, prometheus.GaugeValue, v, s.Name, string(st))
		}
	}
}
