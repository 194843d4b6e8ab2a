"""Wake long-polling feed readers when events commit: a statement trigger on `events`
notifies the channel `commerce_events` (integrations.event_notifications listens).
PostgreSQL sends it at commit, never for a rolled-back insert, once per transaction."""

from django.db import migrations

NOTIFY = """
CREATE FUNCTION events_notify_committed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('commerce_events', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER events_notify_committed AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify_committed();
"""

DROP = """
DROP TRIGGER IF EXISTS events_notify_committed ON events;
DROP FUNCTION IF EXISTS events_notify_committed();
"""


class Migration(migrations.Migration):
    dependencies = [("eventstore", "0001_initial")]

    operations = [migrations.RunSQL(NOTIFY, DROP)]
