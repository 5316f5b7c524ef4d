"""Reading the mock's HTML pages (the OAuth2 consent form)."""

from __future__ import annotations

from html.parser import HTMLParser


class FormParser(HTMLParser):
    """Collects the page's form: its method, hidden fields and button values."""

    def __init__(self) -> None:
        super().__init__()
        self.method = None
        self.fields: dict[str, str] = {}
        self.buttons: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.method = a.get("method")
        elif tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "button":
            self.buttons.append((a.get("name"), a.get("value")))
