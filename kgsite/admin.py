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
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import (
    ALL_VAR,
    ERROR_FLAG,
    IS_FACETS_VAR,
    IS_POPUP_VAR,
    ORDER_VAR,
    PAGE_VAR,
    SEARCH_VAR,
    TO_FIELD_VAR,
    ChangeList,
)
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import (
    EmptyResultSet,
    FieldError,
    FullResultSet,
    PermissionDenied,
    ValidationError,
)
from django.db import DataError, ProgrammingError, connection, models, transaction
from django.db.models import Q
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import capfirst
from django_ltree.fields import PathField

from kgsite.db import EstimatedCountPaginator
from kgsite.deletion import BLOCKER_CAP, DeletionBlocked, deletion_impact, queryset_delete
from kgsite.forms import (
    BAD_LIST_PARAMETER,
    BAD_LTREE_PATH,
    InputRefused,
    SafeJSONFormField,
    TextTooLongForIndex,
    ltree_path_problem,
)
from kgsite.models import User
from kgsite.numbers import whole_number

DISTINCT_VALUES_LIMIT = 200
DELETE_LISTED_OBJECTS = 100  # selected objects named on a delete confirmation page; the rest are counted
LIST_PARAMETER_MAX_CHARS = 10_000  # a change list's query parameter (search, filter) longer than this is refused
SEARCH_TERM_MAX_CHARS = 500
ID_MAX = 2**31 - 1  # the spec's SERIAL ids
# Change list parameters that are not lookups (Django's own, and the ones a popup or a return link carries).
CHANGELIST_CONTROL_PARAMETERS = {ALL_VAR, ORDER_VAR, PAGE_VAR, SEARCH_VAR, IS_POPUP_VAR, TO_FIELD_VAR, ERROR_FLAG,
                                 IS_FACETS_VAR, "_changelist_filters"}


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


# --- Hostile input: a clear refusal, never a 500 (docs/admin.md, "Hostile input") --------------------------------

def search_term_safe(term) -> str:
    """A search term as any admin searches it: NULs (which PostgreSQL text cannot hold) dropped, stripped, cut at
    ``SEARCH_TERM_MAX_CHARS``."""
    return str(term or "").replace("\x00", "").strip()[:SEARCH_TERM_MAX_CHARS]


def _list_refusal(what: str, **context) -> InputRefused:
    return InputRefused(f"the list cannot be shown: {what}; correct or remove it", code=BAD_LIST_PARAMETER,
                        **context)


def list_parameters_check(query) -> None:
    """Refuse (``RG-INPUT-002``) query parameters no lookup can use: a NUL character in a name or a value, or a
    value over ``LIST_PARAMETER_MAX_CHARS``."""
    for name, values in query.lists():
        shown = name.replace("\x00", "\\x00")[:60]
        if "\x00" in name:
            raise _list_refusal(f"the parameter name {shown!r} holds a NUL character", parameter=shown)
        if name.endswith("__range"):  # Django would pass the text as the range's list of bounds, one per character
            raise _list_refusal(f"the parameter {shown!r} is a range lookup, which lists do not take (use __gte and "
                                "__lte)", parameter=shown)
        for value in values:
            if "\x00" in value:
                raise _list_refusal(f"the parameter {shown!r} holds a NUL character (%00)", parameter=shown)
            if len(value) > LIST_PARAMETER_MAX_CHARS:
                raise _list_refusal(f"the parameter {shown!r} has {len(value):,} characters (at most "
                                    f"{LIST_PARAMETER_MAX_CHARS:,})", parameter=shown)


def _compiles(queryset) -> None:
    """Build the SQL of ``queryset`` (no query runs): bad lookup values (``__year=-1``, text for a number) fail here."""
    try:
        queryset.query.sql_with_params()
    except (EmptyResultSet, FullResultSet):
        pass


def _refused_value(exc: Exception) -> bool:
    """Whether PostgreSQL refused a value (data exceptions, SQLSTATE class 22; an ltree or regex that does not
    parse, 42601 / 2201B), not the query itself (a missing column is a bug)."""
    state = getattr(exc.__cause__, "sqlstate", None) or ""
    return state.startswith("22") or state == "42601"


class SafeChangeList(ChangeList):
    """Django's change list, where a query parameter that cannot be used is a 400 page naming it
    (``InputRefused``, ``RG-INPUT-002``), instead of a 500 (``?updated_at__year=-1``, ``?node_type=%00``, text for
    an integer lookup) or Django's "Something's wrong with your database installation" page."""

    def __init__(self, request, *args, **kwargs):
        list_parameters_check(request.GET)
        self._request = request
        try:
            super().__init__(request, *args, **kwargs)
        except IncorrectLookupParameters as exc:
            raise self._refusal(request, exc) from None

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        try:
            _compiles(queryset)
        except (ValueError, TypeError, OverflowError, ValidationError, FieldError) as exc:
            raise IncorrectLookupParameters(exc) from exc
        return queryset

    def get_results(self, request):
        # The page's rows are read here, in a savepoint, so that a value PostgreSQL refuses (an ltree lookup that
        # is no path, a number out of the column's range) is a refusal and leaves the transaction usable.
        try:
            with transaction.atomic(using=self.queryset.db):
                super().get_results(request)
                self.result_list = list(self.result_list)
        except (DataError, ProgrammingError) as exc:
            if not _refused_value(exc):
                raise
            raise IncorrectLookupParameters(exc) from exc

    def _culprit(self, request) -> str | None:
        """The first lookup parameter that cannot be used on its own, if one can be named."""
        for name, values in request.GET.lists():
            if name in CHANGELIST_CONTROL_PARAMETERS:
                continue
            for value in values:
                try:
                    _compiles(self.root_queryset.filter(**{name: value}))
                except FieldError:
                    break  # not a field lookup (a list filter's own parameter): not decidable alone
                except (ValueError, TypeError, OverflowError, ValidationError):
                    return f"{name}={value[:60]!r}"
        return None

    def _refusal(self, request, exc: IncorrectLookupParameters) -> InputRefused:
        cause = exc.args[0] if exc.args else exc.__cause__
        if isinstance(cause, ValidationError):
            why = "; ".join(cause.messages)
        elif cause is not None and not isinstance(cause, IncorrectLookupParameters):
            why = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        else:
            why = ""
        culprit = self._culprit(request)
        if culprit is None and not why:
            page = request.GET.get(PAGE_VAR)
            if page is not None:
                return _list_refusal(f"there is no page {page[:20]!r}", parameter=PAGE_VAR)
            return _list_refusal("a filter parameter is not one this list knows")
        what = f"the filter {culprit}" if culprit else "a filter or search parameter"
        return _list_refusal(f"{what} is not a value this column can hold" + (f" ({why[:200]})" if why else ""),
                             parameter=culprit)


def _usable_key(field: models.Field, value: str) -> bool:
    """Whether ``value`` (from a form) can be looked up in ``field`` without the database refusing it."""
    if "\x00" in value:
        return False
    if isinstance(field, models.IntegerField):
        return whole_number(value[1:] if value.startswith("-") else value, 0, 2**63 - 1) is not None
    try:
        field.to_python(value)
    except (ValidationError, ValueError, TypeError):
        return False
    return True


class _SafeAutocompleteMixin:
    """The selected value of an autocomplete is looked up when the form is redrawn: one that no key can be (text
    for an integer id, a NUL) is left out instead of crashing the page (the field's own error says it is wrong)."""

    def optgroups(self, name, value, attr=None):
        remote = self.field.remote_field
        key = remote.model._meta.get_field(getattr(remote, "field_name", None) or remote.model._meta.pk.name)
        usable = [item for item in value if item is None or _usable_key(key, str(item))]
        return super().optgroups(name, usable, attr)


class SafeAutocompleteSelect(_SafeAutocompleteMixin, AutocompleteSelect):
    pass


class SafeAutocompleteSelectMultiple(_SafeAutocompleteMixin, AutocompleteSelectMultiple):
    pass


def ltree_path_validator(value) -> None:
    text = "" if value is None else str(value)
    if not text:
        return
    problem = ltree_path_problem(text)
    if problem:
        raise ValidationError(f"{BAD_LTREE_PATH}: not a usable path: {problem}", code=BAD_LTREE_PATH)


def _btree_indexed_text(db_field: models.Field) -> bool:
    """A text column without a length limit that a plain btree index (or a uniqueness rule) holds whole."""
    if not isinstance(db_field, models.TextField) or isinstance(db_field, PathField) or db_field.max_length:
        return False
    if db_field.db_index or db_field.unique:
        return True
    meta = db_field.model._meta
    for index in meta.indexes:
        if type(index) is models.Index and db_field.name in (index.fields or ()):
            return True
    return any(isinstance(constraint, models.UniqueConstraint) and db_field.name in (constraint.fields or ())
               for constraint in meta.constraints)


class HostileInputMixin:
    """What every kgsite admin page does with input an attacker (or a typo) sends, instead of a 500:

    * change lists: ``SafeChangeList`` (a 400 page naming the parameter, ``RG-INPUT-002``);
    * searches: NULs dropped and the term cut (``search_term_safe``);
    * JSON fields: ``SafeJSONFormField`` (``RG-INPUT-001`` beside the field: depth, size, NUL, NaN, surrogates);
    * ltree fields: ``ltree_path_validator`` (``RG-INPUT-003``: label length, path size for its index);
    * text columns in a btree index: at most ``BTREE_TEXT_BYTES_MAX`` bytes (``RG-INPUT-004``);
    * autocomplete widgets: a selected value that is no key is not looked up on redisplay.

    ``tests/hostile/`` checks that every registered model admin has it.
    """

    def get_changelist(self, request, **kwargs):
        return SafeChangeList

    def get_inline_instances(self, request, obj=None):
        inlines = super().get_inline_instances(request, obj)
        for inline in inlines:
            if not isinstance(inline, HostileInputMixin):
                inline.__class__ = with_hostile_input_rules(type(inline))
        return inlines

    def get_search_results(self, request, queryset, search_term):
        return super().get_search_results(request, queryset, search_term_safe(search_term))

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.JSONField) and "form_class" not in kwargs:
            kwargs["form_class"] = SafeJSONFormField
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None:
            if isinstance(db_field, PathField):
                formfield.validators.append(ltree_path_validator)
            elif _btree_indexed_text(db_field):
                formfield.validators.append(TextTooLongForIndex())
        return formfield

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if type(formfield.widget) is AutocompleteSelect:
            formfield.widget.__class__ = SafeAutocompleteSelect
        return formfield

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        if formfield is not None and type(formfield.widget) is AutocompleteSelectMultiple:
            formfield.widget.__class__ = SafeAutocompleteSelectMultiple
        return formfield


class KgsiteModelAdmin(HostileInputMixin, admin.ModelAdmin):
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
        term = search_term_safe(search_term)
        if not term:
            return queryset, False
        condition = Q()
        for field in self.exact_search_fields:
            condition |= Q(**{field: term})
        number = whole_number(term, 0, ID_MAX)  # ASCII digits only: "²" passes str.isdigit, not int()
        if number is not None:
            for field in self.id_search_fields:
                condition |= Q(**{field: number})
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


class ReadOnlyAdmin(HostileInputMixin, admin.ModelAdmin):
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
class UserAdmin(HostileInputMixin, DjangoUserAdmin):
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


def with_hostile_input_rules(admin_class: type) -> type:
    """``admin_class`` with ``HostileInputMixin`` in front (itself if it has it already)."""
    if issubclass(admin_class, HostileInputMixin):
        return admin_class
    return type(admin_class.__name__, (HostileInputMixin, admin_class),
                {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__})


class KgsiteAdminSite(admin.AdminSite):
    """The admin site: every model admin registered on it, Django's and other apps' included (groups, the login
    lockouts), gets ``HostileInputMixin``, so no change list, search or form of any app answers a 500 to input."""

    def register(self, model_or_iterable, admin_class=None, **options):
        return super().register(model_or_iterable, with_hostile_input_rules(admin_class or admin.ModelAdmin),
                                **options)


def _site_with_hostile_input_rules(site: admin.AdminSite) -> None:
    """Make ``site`` a ``KgsiteAdminSite``, its admins registered so far included (apps listed before kgsite)."""
    site.__class__ = KgsiteAdminSite
    for model, model_admin in list(site._registry.items()):
        if not isinstance(model_admin, HostileInputMixin):
            site._registry[model] = with_hostile_input_rules(type(model_admin))(model, site)


_site_with_hostile_input_rules(admin.site)


@login_not_required
def admin_login(request, extra_context=None):
    """The admin's login URL leads to the site's one login page, keeping where to go next (by default the admin)."""
    return redirect_to_login(request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index"))




# --- Login throttling records (django-axes) -------------------------------------------------------------------

from axes.admin import AccessAttemptAdmin  # noqa: E402
from axes.models import AccessAttempt  # noqa: E402


class LoginAttemptAdmin(AccessAttemptAdmin):
    """django-axes' admin of failed-login records, whose "Clean up expired attempts" action failed (it reads the
    attempt time axes sets on a request only while someone logs in)."""

    @admin.action(description="Clean up expired attempts")
    def cleanup_expired_attempts(self, request, queryset):
        request.axes_attempt_time = timezone.now()
        return super().cleanup_expired_attempts(request, queryset)


if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, LoginAttemptAdmin)

admin.site.login = admin_login  # before the admin's URLs are built (kgsite/urls.py reads admin.site.urls)
admin.site.site_header = "kgsite administration"
admin.site.site_title = "kgsite admin"
admin.site.index_title = "Knowledge graph"
