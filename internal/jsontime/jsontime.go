// Package jsontime holds the API's timestamp type: ISO 8601 in UTC with
// exactly three fractional digits, e.g. 2016-02-18T03:22:56.637Z, which
// RealWorld clients expect and Go's time.Time does not guarantee (it drops
// a zero fraction).
package jsontime

import (
	"fmt"
	"time"
)

// Layout is the wire format of Millis.
const Layout = "2006-01-02T15:04:05.000Z07:00"

// Millis is a time.Time that marshals as ISO 8601 UTC with milliseconds.
type Millis struct{ time.Time }

// From returns t as Millis.
func From(t time.Time) Millis { return Millis{t} }

// MarshalJSON implements json.Marshaler.
func (m Millis) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(Layout)+4)
	b = append(b, '"')
	b = m.UTC().AppendFormat(b, Layout)
	return append(b, '"'), nil
}

// UnmarshalJSON implements json.Unmarshaler; it accepts any RFC 3339 time.
func (m *Millis) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("jsontime: expected a quoted RFC 3339 time, got %s", b)
	}
	t, err := time.Parse(time.RFC3339Nano, string(b[1:len(b)-1]))
	if err != nil {
		return err
	}
	m.Time = t
	return nil
}
