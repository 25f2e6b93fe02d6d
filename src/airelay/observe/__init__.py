"""What the gateway tells its operator about itself: Prometheus metrics, the access log."""
