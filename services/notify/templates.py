"""Message templates: files under `templates/`, Simplified Chinese, `${name}` placeholders.

The first line is the title, the rest the body. Every template a service needs is loaded and
checked at start-up, so a missing or broken one stops the service with a clear error instead of
failing on the first event at night.
"""
from __future__ import annotations

from pathlib import Path
from string import Template

from services.notify.domain import RenderedMessage

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


class TemplateError(Exception):
    pass


class Templates:
    def __init__(self, names: list[str], directory: Path = TEMPLATE_DIR):
        self._templates: dict[str, Template] = {}
        problems = []
        for name in names:
            path = directory / f"{name}.txt"
            if not path.is_file():
                problems.append(f"missing template {path}")
                continue
            template = Template(path.read_text(encoding="utf-8"))
            if not template.is_valid():
                problems.append(f"template {path} has an invalid placeholder")
                continue
            self._templates[name] = template
        if problems:
            raise TemplateError("; ".join(problems))

    def render(self, name: str, values: dict) -> RenderedMessage:
        try:
            text = self._templates[name].substitute(values)
        except KeyError as exc:
            raise TemplateError(f"template {name!r} needs {exc.args[0]!r}, which the event does not carry") from None
        title, _, body = text.partition("\n")
        return RenderedMessage(title=title.strip(), body=body.rstrip())
