"""The parameter session_idle_minutes: how long a session lasts without a request (config_admin/middleware.py)."""

from django.db import migrations

PARAMETERS_SQL = """
INSERT INTO system_config (parameter_name, parameter_value, parameter_type, description, default_value,
                           min_value, max_value, requires_restart, category) VALUES
('session_idle_minutes', '120', 'integer',
 'Minutes a login lasts without a request; the next request after that asks to log in again',
 '120', 5, 10080, false, 'security')
ON CONFLICT (parameter_name) DO NOTHING;
"""
REMOVE_SQL = "DELETE FROM system_config WHERE parameter_name = 'session_idle_minutes';"


class Migration(migrations.Migration):

    dependencies = [
        ('config_admin', '0004_apply_postgres_settings_permission'),
    ]

    operations = [
        migrations.RunSQL(PARAMETERS_SQL, REMOVE_SQL),
    ]
