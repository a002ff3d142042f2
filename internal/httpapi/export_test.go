package httpapi

// SetHashSlots lets benchmarks compare bounds on concurrent password
// hashing; it returns a function that restores the default.
func SetHashSlots(n int) (restore func()) {
	old := hashSlots
	hashSlots = make(chan struct{}, n)
	return func() { hashSlots = old }
}

// HoldHashSlots takes every password-hashing slot, so that requests that
// hash a password wait; release lets them go.
func HoldHashSlots() (release func()) {
	slots := hashSlots
	for range cap(slots) {
		slots <- struct{}{}
	}
	return func() {
		for range cap(slots) {
			<-slots
		}
	}
}

// HashWaiters returns how many requests wait for a hashing slot.
func HashWaiters() int { return int(hashWaiting.Load()) }
