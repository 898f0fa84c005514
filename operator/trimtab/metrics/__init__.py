"""The Prometheus port: the only code that talks to Prometheus."""
