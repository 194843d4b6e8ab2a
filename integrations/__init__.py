"""How other services of the platform follow the orders: the CloudEvents envelope, the
gap-safe event feed and signed webhooks. Reads the event store; nothing imports it."""
