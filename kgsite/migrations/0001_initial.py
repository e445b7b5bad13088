# The spec's users table, exactly (spec layer: adopt_database records this migration as applied).
import django.utils.timezone
from django.db import migrations, models

import kgsite.fields
import kgsite.models


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name='User',
            fields=[
                ('id', kgsite.fields.SerialField(primary_key=True, serialize=False)),
                ('email', models.EmailField(max_length=255, verbose_name='email address')),
                ('password', models.CharField(db_column='password_hash', max_length=255, verbose_name='password')),
                ('first_name', models.CharField(blank=True, max_length=100, null=True)),
                ('last_name', models.CharField(blank=True, max_length=100, null=True)),
                ('created_at', kgsite.fields.UTCDateTimeField(db_default=kgsite.fields.Now(), default=django.utils.timezone.now, editable=False, null=True)),
                ('updated_at', kgsite.fields.UTCDateTimeField(auto_now=True, db_default=kgsite.fields.Now(), editable=False, null=True)),
                ('is_active', models.BooleanField(db_default=True, default=True, help_text='Unselect this instead of deleting an account: its nodes keep their author.', null=True)),
                ('last_login', kgsite.fields.UTCDateTimeField(blank=True, null=True, verbose_name='last login')),
            ],
            options={
                'verbose_name': 'user',
                'verbose_name_plural': 'users',
                'db_table': 'users',
                'ordering': ['email'],
                'indexes': [models.Index(fields=['email'], name='idx_users_email'), models.Index(fields=['is_active'], name='idx_users_active')],
                'constraints': [models.UniqueConstraint(fields=('email',), name='users_email_key', violation_error_message='A user with this email address already exists.')],
            },
            managers=[
                ('objects', kgsite.models.UserManager()),
            ],
        ),
    ]
