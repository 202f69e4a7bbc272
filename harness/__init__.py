"""Private instances of what tests and benchmarks run against: a Mosquitto broker, a
PostgreSQL cluster, a publisher on its own event loop, collector processes. Each starts on a
free port in a temporary directory, so no run depends on a shared instance's state."""
