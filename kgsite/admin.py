"""Admin building blocks for big tables, and the user admin.

``BigTableAdmin`` is the base of every graph admin: no full ``COUNT(*)`` per page view (estimated-count paginator,
no "show all" count), ``created_by`` filled with the acting user on the object and on its inlines, and integer ids
searchable without a 500 on non-numeric terms. ``distinct_values_filter`` builds a list filter whose choices come
from a loose index scan (a recursive CTE that hops through a btree index), so listing the node types of a million
nodes costs one index probe per distinct value instead of a ``SELECT DISTINCT`` over the table.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import connection, models
from django.db.models import Q
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import capfirst

from kgsite.db import EstimatedCountPaginator
from kgsite.deletion import BLOCKER_CAP, DeletionBlocked, deletion_impact, queryset_delete
from kgsite.models import User

DISTINCT_VALUES_LIMIT = 200
DELETE_LISTED_OBJECTS = 100  # selected objects named on a delete confirmation page; the rest are counted


def distinct_values(table: str, column: str, limit: int = DISTINCT_VALUES_LIMIT) -> list:
    """Up to ``limit`` distinct non-null values of an indexed column, in order, by loose index scan."""
    qn = connection.ops.quote_name
    table, column = qn(table), qn(column)
    sql = f"""
        WITH RECURSIVE walk(value) AS (
            (SELECT {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY {column} LIMIT 1)
            UNION ALL
            SELECT (SELECT {column} FROM {table} WHERE {column} > walk.value ORDER BY {column} LIMIT 1)
            FROM walk WHERE walk.value IS NOT NULL
        )
        SELECT value FROM walk WHERE value IS NOT NULL LIMIT %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [row[0] for row in cursor.fetchall()]


def distinct_values_filter(field_name: str, title: str | None = None) -> type[admin.SimpleListFilter]:
    """A list filter on ``field_name`` whose choices are read by ``distinct_values`` (needs a btree index)."""

    class DistinctValuesFilter(admin.SimpleListFilter):
        parameter_name = field_name

        def lookups(self, request, model_admin):
            column = model_admin.model._meta.get_field(field_name).column
            values = distinct_values(model_admin.model._meta.db_table, column)
            return [(value, value) for value in values]

        def queryset(self, request, queryset):
            value = self.value()
            return queryset.filter(**{field_name: value}) if value else queryset

    DistinctValuesFilter.title = title or field_name.replace("_", " ")
    DistinctValuesFilter.__name__ = f"{field_name.title().replace('_', '')}DistinctFilter"
    return DistinctValuesFilter


# Nullable booleans (the spec's ``BOOLEAN DEFAULT FALSE`` columns) as checkboxes: NULL means nothing there, so the
# form shows it unticked and saves False instead of offering "Unknown".
CHECKBOX_BOOLEANS = {models.BooleanField: {"form_class": forms.BooleanField, "widget": forms.CheckboxInput}}


class YesNoListFilter(admin.BooleanFieldListFilter):
    """Django's boolean filter without the "Unknown" choice for a nullable column (NULL counts as No)."""

    def queryset(self, request, queryset):
        if self.lookup_val is not None and str(self.lookup_val).lower() in {"0", "false"}:
            return queryset.filter(Q(**{self.field_path: False}) | Q(**{f"{self.field_path}__isnull": True}))
        return super().queryset(request, queryset)

    def choices(self, changelist):
        for choice in super().choices(changelist):
            if f"{self.field_path}__isnull=True" not in choice["query_string"]:
                yield choice


def fieldsets_without(fieldsets, hidden: set[str]):
    """``fieldsets`` with the fields in ``hidden`` taken out, and sections left empty dropped."""
    result = []
    for name, options in fieldsets:
        fields = [field for field in options.get("fields", ()) if field not in hidden]
        if fields:
            result.append((name, {**options, "fields": fields}))
    return result


class KgsiteModelAdmin(admin.ModelAdmin):
    """The admin's defaults for kgsite's tables.

    * An add form shows no read-only fields: they hold what the database will fill in (timestamps, ``created_by``,
      computed scores), which before the first save is nothing, or Django's ``DatabaseDefault`` marker.
    * Nullable booleans are checkboxes (``CHECKBOX_BOOLEANS``).
    """

    formfield_overrides = CHECKBOX_BOOLEANS

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets_without(fieldsets, set(self.get_readonly_fields(request, obj)))
        return fieldsets


def admin_changelist_url(user, model: type[models.Model]) -> str | None:
    """The admin changelist of ``model`` if ``user`` may view it and the model is registered, else None."""
    if not user.is_staff:
        return None
    opts = model._meta
    if not (user.has_perm(f"{opts.app_label}.view_{opts.model_name}")
            or user.has_perm(f"{opts.app_label}.change_{opts.model_name}")):
        return None
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    except NoReverseMatch:  # not registered with the admin
        return None


class BigTableAdmin(KgsiteModelAdmin):
    paginator = EstimatedCountPaginator
    delete_confirmation_template = "admin/kgsite/delete_confirmation.html"
    show_full_result_count = False
    list_per_page = 50
    # Searches that use indexes instead of ILIKE scans: text columns matched exactly, and integer columns
    # matched when the term is a number. They are OR-ed with ``search_fields`` (if any).
    exact_search_fields: tuple[str, ...] = ()
    id_search_fields: tuple[str, ...] = ()

    def get_search_fields(self, request):
        return super().get_search_fields(request) or self.exact_search_fields or self.id_search_fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q()
        for field in self.exact_search_fields:
            condition |= Q(**{field: term})
        if term.isdigit() and int(term) < 2**31:
            for field in self.id_search_fields:
                condition |= Q(**{field: int(term)})
        if self.search_fields:
            matched, may_have_duplicates = super().get_search_results(request, queryset, search_term)
            return (matched | queryset.filter(condition) if condition else matched), may_have_duplicates
        return (queryset.filter(condition) if condition else queryset.none()), False

    # --- Deleting: the database cascades; the confirmation page shows counts per table (kgsite.deletion) ---------

    def get_deleted_objects(self, objs, request):
        """Django's contract (objects, counts per model, permissions lacking, protected), from counts in SQL.

        Django's version loads every cascaded row to list it; this one names the selected objects (up to
        ``DELETE_LISTED_OBJECTS``) and counts the rest per table, so a hub with 30,000 relationships costs a few
        indexed counts. Rows that block the delete (``NO ACTION`` references such as a node's children) are
        reported as protected, with how many and a few examples.
        """
        queryset = objs if isinstance(objs, models.QuerySet) else self.model._default_manager.filter(
            pk__in=[obj.pk for obj in objs])
        impact = deletion_impact(queryset)
        named = [self._deleted_object_label(obj) for obj in queryset[:DELETE_LISTED_OBJECTS]]
        if impact.selected > len(named):
            named.append(f"… and {impact.selected - len(named):,} more")
        # The action's page renders each entry as a list, the single-object page renders one list.
        deleted = [[entry] for entry in named] if isinstance(objs, models.QuerySet) else named
        model_count = {count.label: f"{count.rows:,}" for count in impact.counts()}
        perms_needed = set()
        for count in impact.cascades:
            if count.rows and count.model is not None and self.admin_site.is_registered(count.model):
                related_admin = self.admin_site.get_model_admin(count.model)
                # Rows that only go with what they refer to (nobody deletes them by hand) need no permission.
                if getattr(related_admin, "deleted_only_by_cascade", False):
                    continue
                if not related_admin.has_delete_permission(request):
                    perms_needed.add(count.model._meta.verbose_name)
        protected = [
            f"{blocker.rows:,}{'+' if blocker.rows > BLOCKER_CAP else ''} {blocker.label} "
            f"refer{'s' if blocker.rows == 1 else ''} to {'it' if impact.selected == 1 else 'them'} "
            f"as {'its' if blocker.rows == 1 else 'their'} {blocker.field_label}"
            + (f", e.g. {', '.join(blocker.examples)}" if blocker.examples else "")
            + ": move or delete those first"
            for blocker in impact.blockers
        ]
        return deleted, model_count, perms_needed, protected

    def _deleted_object_label(self, obj):
        opts = obj._meta
        try:
            url = reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        except NoReverseMatch:
            return f"{capfirst(opts.verbose_name)}: {obj}"
        return format_html('{}: <a href="{}">{}</a>', capfirst(opts.verbose_name), url, obj)

    def delete_model(self, request, obj):
        self._delete(request, self.model._default_manager.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        self._delete(request, queryset)

    def _delete(self, request, queryset):
        try:
            queryset_delete(queryset)
        except DeletionBlocked as exc:  # someone added a child between the confirmation and the delete
            raise PermissionDenied(str(exc)) from exc

    def save_model(self, request, obj, form, change):
        if not change and hasattr(obj, "created_by_id") and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            obj.delete()
        for obj in instances:
            if obj._state.adding and hasattr(obj, "created_by_id") and obj.created_by_id is None:
                obj.created_by = request.user
            obj.save()
        formset.save_m2m()


class ReadOnlyAdmin(admin.ModelAdmin):
    """For rows nobody edits by hand (materialized views, audit logs): no add, change, delete, nor a history
    (nobody edits them in the admin, so Django's history page would always be empty)."""

    actions = None
    change_form_template = "admin/kgsite/readonly_change_form.html"

    def history_view(self, request, object_id, extra_context=None):
        raise Http404("These rows have no edit history: nobody edits them in the admin.")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Users ---------------------------------------------------------------------------------------------------

class EmailUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email", "first_name", "last_name")

    def clean_email(self):
        email = User.objects.normalize_email(self.cleaned_data["email"])
        if User.objects.filter(Q(email__iexact=email)).exists():
            raise forms.ValidationError("A user with this email address (in any letter case) already exists.")
        return email


class EmailUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    formfield_overrides = CHECKBOX_BOOLEANS
    form = EmailUserChangeForm
    add_form = EmailUserCreationForm
    ordering = ("email",)
    list_display = ("email", "first_name", "last_name", "is_active", "is_staff", "is_superuser", "last_login")
    list_filter = (("is_active", YesNoListFilter), "is_staff", "is_superuser", "groups")
    search_fields = ("email", "first_name", "last_name")
    readonly_fields = ("last_login", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "first_name", "last_name", "password1", "password2")}),
    )


@login_not_required
def admin_login(request, extra_context=None):
    """The admin's login URL leads to the site's one login page, keeping where to go next (by default the admin)."""
    return redirect_to_login(request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index"))


admin.site.login = admin_login  # before the admin's URLs are built (kgsite/urls.py reads admin.site.urls)
admin.site.site_header = "kgsite administration"
admin.site.site_title = "kgsite admin"
admin.site.index_title = "Knowledge graph"
