"""Message templates: files under `templates/`, Simplified Chinese, `${name}` placeholders.

The first line is the title, the rest the body. Every template a service needs is loaded and
checked at start-up — the file exists, its placeholders are well-formed, and (when the caller
says which names the event and its rule provide) it uses no name the event cannot fill — so a
missing or broken template stops the service with a clear error instead of failing on the
first event at night.
"""
from __future__ import annotations

import os
from pathlib import Path
from string import Template

from services.notify.domain import RenderedMessage

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


def template_dir() -> Path:
    """`NOTIFY_TEMPLATE_DIR` (an operator's own wording), else the templates shipped here."""
    return Path(os.environ.get("NOTIFY_TEMPLATE_DIR") or TEMPLATE_DIR)


class TemplateError(Exception):
    pass


class Templates:
    def __init__(self, names, directory: Path | None = None):
        """`names`: a list of template names, or a dict name -> the placeholder names it may use
        (None: any)."""
        directory = directory or template_dir()
        allowed = names if isinstance(names, dict) else {n: None for n in names}
        self._templates: dict[str, Template] = {}
        problems = []
        for name, may_use in allowed.items():
            path = directory / f"{name}.txt"
            if not path.is_file():
                problems.append(f"missing template {path}")
                continue
            try:
                template = Template(path.read_text(encoding="utf-8"))
            except UnicodeDecodeError:
                problems.append(f"template {path} is not UTF-8 text")
                continue
            if not template.is_valid():
                problems.append(f"template {path} has an invalid placeholder")
                continue
            if "\n" not in template.template.strip():
                problems.append(f"template {path} needs a title line and a body")
                continue
            if may_use is not None:
                unknown = sorted(set(template.get_identifiers()) - set(may_use))
                if unknown:
                    problems.append(f"template {path} uses {', '.join(unknown)}, which its event does not carry")
                    continue
            self._templates[name] = template
        if problems:
            raise TemplateError("; ".join(problems))

    @property
    def names(self) -> list[str]:
        return sorted(self._templates)

    def render(self, name: str, values: dict) -> RenderedMessage:
        try:
            text = self._templates[name].substitute(values)
        except KeyError as exc:
            raise TemplateError(f"template {name!r} needs {exc.args[0]!r}, which the event does not carry") from None
        title, _, body = text.partition("\n")
        return RenderedMessage(title=title.strip(), body=body.rstrip())
