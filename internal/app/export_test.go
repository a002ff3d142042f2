package app

// Version is the build's version, for the tests of --version.
func Version() string { return version }
