"""Great Expectations validation of a release: the suites and the quarantine."""
