"""Read a rendered HTML form back into the data a browser would submit (for form round-trip tests)."""

from __future__ import annotations

from html.parser import HTMLParser


class _FormReader(HTMLParser):
    def __init__(self, form_id: str | None):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.data: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_multiple = False
        self._select_chosen: list[str] = []
        self._select_first: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []
        self._option_value: str | None = None
        self._option_selected = False
        self._option_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (self.form_id is None or attrs.get("id") == self.form_id):
            self.inside = True
            return
        if not self.inside:
            return
        name = attrs.get("name")
        if tag == "input" and name and "disabled" not in attrs:
            kind = (attrs.get("type") or "text").lower()
            if kind in {"submit", "button", "image", "reset", "file"}:
                return
            if kind in {"checkbox", "radio"}:
                if "checked" in attrs:
                    self.data.append((name, attrs.get("value", "on")))
                return
            self.data.append((name, attrs.get("value") or ""))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []
        elif tag == "select" and name:
            self._select, self._select_multiple = name, "multiple" in attrs
            self._select_chosen, self._select_first = [], None
        elif tag == "option" and self._select is not None:
            self._option_value = attrs.get("value")
            self._option_selected = "selected" in attrs
            self._option_text = []

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)
        elif self._option_value is not None or (self._select is not None and self._option_text is not None):
            self._option_text.append(data)

    def handle_endtag(self, tag):
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "textarea" and self._textarea is not None:
            text = "".join(self._text)
            self.data.append((self._textarea, text[1:] if text.startswith("\n") else text))
            self._textarea = None
        elif tag == "option" and self._select is not None:
            value = self._option_value if self._option_value is not None else "".join(self._option_text).strip()
            if self._select_first is None:
                self._select_first = value
            if self._option_selected:
                self._select_chosen.append(value)
            self._option_value = None
        elif tag == "select" and self._select is not None:
            chosen = self._select_chosen
            if not chosen and not self._select_multiple and self._select_first is not None:
                chosen = [self._select_first]
            self.data.extend((self._select, value) for value in chosen)
            self._select = None


def form_data(html: str, form_id: str | None = None) -> dict[str, str | list[str]]:
    """The fields a browser would submit from the form (the first, or the one with ``id=form_id``)."""
    reader = _FormReader(form_id)
    reader.feed(html)
    data: dict[str, str | list[str]] = {}
    for name, value in reader.data:
        if name in data:
            existing = data[name]
            data[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            data[name] = value
    return data
