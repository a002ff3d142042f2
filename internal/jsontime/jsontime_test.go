package jsontime

import (
	"encoding/json"
	"testing"
	"time"
)

func TestMarshalAlwaysHasMilliseconds(t *testing.T) {
	for in, want := range map[time.Time]string{
		time.Date(2016, 2, 18, 3, 22, 56, 637_000_000, time.UTC):                    `"2016-02-18T03:22:56.637Z"`,
		time.Date(2016, 2, 18, 3, 22, 56, 0, time.UTC):                              `"2016-02-18T03:22:56.000Z"`,
		time.Date(2016, 2, 18, 4, 22, 56, 637_999_999, time.FixedZone("CET", 3600)): `"2016-02-18T03:22:56.637Z"`,
	} {
		got, err := json.Marshal(From(in))
		if err != nil || string(got) != want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", in, got, err, want)
		}
		var back Millis
		if err := json.Unmarshal(got, &back); err != nil || !back.Equal(in.Truncate(time.Millisecond)) {
			t.Errorf("round trip of %s = %v, %v", got, back, err)
		}
	}
	var m Millis
	if err := json.Unmarshal([]byte(`123`), &m); err == nil {
		t.Error("a number was accepted as a time")
	}
}
