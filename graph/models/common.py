"""Building blocks shared by the graph tables: the spec's recurring columns and range checks."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from kgsite.fields import Now, UTCDateTimeField

ZERO = Decimal("0.0")
ONE = Decimal("1.0")
UNIT_MESSAGE = "Must be between 0 and 1."


def unit_interval_check(field: str, name: str, *, allow_null: bool = False) -> models.CheckConstraint:
    """``CHECK (field >= 0.0 AND field <= 1.0)`` under the spec's constraint name."""
    condition = Q(**{f"{field}__gte": ZERO, f"{field}__lte": ONE})
    if allow_null:
        condition = Q(**{f"{field}__isnull": True}) | condition
    label = field.replace("_", " ")
    return models.CheckConstraint(
        condition=condition, name=name,
        violation_error_message=f"{label.capitalize()} must be between 0 and 1.",
    )


def unit_validators() -> list:
    return [MinValueValidator(ZERO, UNIT_MESSAGE), MaxValueValidator(ONE, UNIT_MESSAGE)]


def unit_decimal(default: str | None, digits: int = 5, places: int = 4, **kwargs) -> models.DecimalField:
    """A DECIMAL(digits, places) score with the spec's default both in Python and in the database."""
    if default is not None:
        kwargs.update(default=Decimal(default), db_default=Decimal(default))
    # The CHECK's range as field validators too: a form reports 1.5 beside the field, not above the form.
    kwargs.setdefault("validators", unit_validators())
    return models.DecimalField(max_digits=digits, decimal_places=places, null=True, blank=True, **kwargs)


def created_at_field() -> UTCDateTimeField:
    return UTCDateTimeField(default=timezone.now, db_default=Now(), null=True, editable=False)


def updated_at_field() -> UTCDateTimeField:
    return UTCDateTimeField(auto_now=True, db_default=Now(), null=True, editable=False)


def timestamp_now_field(**kwargs) -> UTCDateTimeField:
    return UTCDateTimeField(default=timezone.now, db_default=Now(), null=True, blank=True, **kwargs)


def metadata_field() -> models.JSONField:
    return models.JSONField(default=dict, db_default=models.Value({}, models.JSONField()), null=True, blank=True)


def created_by_field() -> models.ForeignKey:
    # The spec's "created_by INTEGER REFERENCES users(id)" (ON DELETE NO ACTION): deactivate users, don't delete.
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, editable=False,
        db_column="created_by", db_constraint=False, db_index=False, related_name="+",
    )


def node_label(obj: models.Model, field: str) -> str:
    """The name of the node ``obj.<field>`` refers to, for ``__str__`` (one query unless it was select_related)."""
    node_id = getattr(obj, f"{field}_id")
    if node_id is None:
        return "—"
    try:
        return getattr(obj, field).name
    except ObjectDoesNotExist:  # a dangling id on an unsaved or half-built object
        return f"node {node_id}"


def node_fk(*, related_name: str, null: bool = False, column: str = "node_id", **kwargs) -> models.ForeignKey:
    """A foreign key to nodes. The constraint itself (ON DELETE CASCADE, spec name) is made by SQL migration.

    ``DO_NOTHING``: PostgreSQL cascades; Django must not load and delete the rows a second time in Python
    (``kgsite.deletion`` counts them for the confirmation page instead).
    """
    return models.ForeignKey(
        "graph.Node", on_delete=models.DO_NOTHING, null=null, blank=null, db_column=column,
        db_constraint=False, db_index=False, related_name=related_name, **kwargs,
    )
