import eventstore.models
from django.db import migrations, models


# Django has no field for an identity column, an xid8 default or a trigger, so the log is
# created in SQL; the state operation below describes the same columns for the ORM.
EVENTS_SQL = """
CREATE TABLE events (
    id uuid PRIMARY KEY,
    aggregate_id uuid NOT NULL,
    aggregate_type varchar(100) NOT NULL,
    event_type varchar(100) NOT NULL,
    event_data jsonb NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    global_position bigint GENERATED ALWAYS AS IDENTITY,
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT events_stream_version_key UNIQUE (aggregate_id, version),
    CONSTRAINT events_global_position_key UNIQUE (global_position)
);
-- read_all: every event in commit-safe order, (transaction_id, global_position).
CREATE INDEX events_transaction_position_idx ON events (transaction_id, global_position);

CREATE FUNCTION events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_reject_change();
"""

EVENTS_REVERSE_SQL = """
DROP TABLE events;
DROP FUNCTION events_reject_change();
"""

CHECKPOINT_DEFAULTS_SQL = """
ALTER TABLE projection_checkpoints ALTER COLUMN transaction_id SET DEFAULT '0';
ALTER TABLE projection_checkpoints ALTER COLUMN global_position SET DEFAULT 0;
ALTER TABLE projection_checkpoints ALTER COLUMN events_processed SET DEFAULT 0;
ALTER TABLE projection_checkpoints ALTER COLUMN updated_at SET DEFAULT now();
"""


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='ProjectionCheckpoint',
            fields=[
                ('name', models.CharField(max_length=100, primary_key=True, serialize=False)),
                ('transaction_id', eventstore.models.Xid8Field(default=0)),
                ('global_position', models.BigIntegerField(default=0)),
                ('events_processed', models.BigIntegerField(default=0)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'db_table': 'projection_checkpoints',
            },
        ),
        migrations.RunSQL(CHECKPOINT_DEFAULTS_SQL, reverse_sql=migrations.RunSQL.noop),
        migrations.CreateModel(
            name='ProjectionRebuild',
            fields=[
                ('name', models.CharField(max_length=100, primary_key=True, serialize=False)),
                ('shadow_table', models.CharField(max_length=200)),
                ('transaction_id', eventstore.models.Xid8Field(default=0)),
                ('global_position', models.BigIntegerField(default=0)),
                ('events_processed', models.BigIntegerField(default=0)),
                ('started_at', models.DateTimeField()),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'db_table': 'projection_rebuilds',
            },
        ),
        migrations.CreateModel(
            name='Snapshot',
            fields=[
                ('aggregate_id', models.UUIDField(primary_key=True, serialize=False)),
                ('aggregate_type', models.CharField(max_length=100)),
                ('version', models.IntegerField()),
                ('schema_version', models.IntegerField(default=1)),
                ('state', models.JSONField()),
                ('created_at', models.DateTimeField()),
            ],
            options={
                'db_table': 'snapshots',
            },
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(EVENTS_SQL, reverse_sql=EVENTS_REVERSE_SQL)],
            state_operations=[
                migrations.CreateModel(
                    name='Event',
                    fields=[
                        ('id', models.UUIDField(editable=False, primary_key=True, serialize=False)),
                        ('aggregate_id', models.UUIDField()),
                        ('aggregate_type', models.CharField(max_length=100)),
                        ('event_type', models.CharField(max_length=100)),
                        ('event_data', models.JSONField()),
                        ('version', models.IntegerField()),
                        ('created_at', models.DateTimeField()),
                        ('metadata', models.JSONField(default=dict)),
                        ('global_position', models.BigIntegerField(editable=False, unique=True)),
                        ('transaction_id', eventstore.models.Xid8Field(editable=False)),
                    ],
                    options={
                        'db_table': 'events',
                        'ordering': ['global_position'],
                        'constraints': [models.UniqueConstraint(fields=('aggregate_id', 'version'), name='events_stream_version_key')],
                    },
                ),
            ],
        ),
    ]
