package httpapi

// SetHashSlots lets benchmarks compare bounds on concurrent password
// hashing; it returns a function that restores the default.
func SetHashSlots(n int) (restore func()) {
	old := hashSlots
	hashSlots = make(chan struct{}, n)
	return func() { hashSlots = old }
}
