# Timestamps are the spec's "timestamp without time zone" holding UTC. Django sets TimeZone=UTC on its own
# connections; this makes UTC the database's default for every other session too (psql, cron jobs), so that
# DEFAULT NOW() stores UTC whoever inserts. Skipped with a warning where the role may not ALTER DATABASE.
from django.db import migrations

SET_UTC = """
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET timezone TO %L', current_database(), 'UTC');
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'kgsite: could not set the database time zone to UTC (not the owner); set TimeZone=UTC for every client';
END $$;
"""

RESET = """
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I RESET timezone', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    NULL;
END $$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('kgsite', '0002_django_auth'),
    ]

    operations = [
        migrations.RunSQL(SET_UTC, RESET),
    ]
