"""Signed webhooks: other services subscribe a URL and receive every order event they asked
for as a CloudEvent, signed per Standard Webhooks, at least once and in order per order.

- `models`: subscriptions (the secret stored encrypted) and deliveries (the outbox);
- `secrets`: signing secrets, their encryption at rest and the signature header;
- `outbox`: the catch-up consumer of the event log that creates one delivery per
  (subscription, event);
- `targets` and `transport`: where a delivery may go (SSRF rules) and the HTTP POST;
- `dispatch`: claims due deliveries in order per order, sends them, retries, dead-letters,
  disables a subscription that keeps failing;
- `services`: what the API and the admin do to subscriptions and deliveries;
- `tasks`: the Celery task beat runs (consumer, then dispatcher).

docs/webhooks.md is the user's and operator's guide.
"""
