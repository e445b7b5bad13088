"""Template helpers of the exploration pages."""

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def query_with(context, key: str, value) -> str:
    """The current page's query string with ``key`` set to ``value`` (a pager's link keeps the other parameters)."""
    params = context["request"].GET.copy()
    params[key] = str(value)
    return f"?{params.urlencode()}"
