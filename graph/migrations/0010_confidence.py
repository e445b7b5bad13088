# Confidence scoring kept current by the database (issue 9): work in progress.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("graph", "0009_attribute_value_search_head"), ("config_admin", "0004_apply_postgres_settings_permission")]
    operations = []
