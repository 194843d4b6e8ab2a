"""What the service is doing, for the people who run it: `/metrics` for Prometheus (with the
figures that are facts in PostgreSQL read at scrape time), the "Operations" admin page, and
the start of tracing. It reads the other apps' read models; nothing imports it."""
