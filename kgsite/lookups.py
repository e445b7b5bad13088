"""``__ne`` (``<>``): lets a CheckConstraint say ``source_node_id <> target_node_id`` as the spec writes it.

Django's ``~Q(a=F("b"))`` renders ``NOT (a = b)``, which PostgreSQL stores as a different constraint definition.
"""

from django.db.models import Field, Lookup
from django.db.models.fields.related import ForeignObject


class NotEqual(Lookup):
    lookup_name = "ne"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} <> {rhs}", (*lhs_params, *rhs_params)


Field.register_lookup(NotEqual)
ForeignObject.register_lookup(NotEqual)
