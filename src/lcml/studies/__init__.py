"""Research studies (phase coverage, sampling, label fraction). Production code never imports this package."""
