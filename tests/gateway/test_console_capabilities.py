"""Every API capability has a console page for the roles that use it, or a reasoned exemption;
docs/console.md's table is the generated one."""
from pathlib import Path

from services.gateway.console import capabilities, routes

ROOT = Path(__file__).resolve().parents[2]


def test_every_api_route_is_offered_by_a_console_page_or_exempt_with_a_reason():
    endpoints = {r.endpoint for r in capabilities.api_routes()}
    missing = endpoints - set(capabilities.OFFERED) - set(capabilities.EXEMPT)
    assert not missing, f"API routes without a console page or an exemption: {sorted(missing)}"
    stale = (set(capabilities.OFFERED) | set(capabilities.EXEMPT)) - endpoints
    assert not stale, f"listed but not an API route: {sorted(stale)}"
    assert not set(capabilities.OFFERED) & set(capabilities.EXEMPT)
    assert all(len(reason) >= 6 for reason in capabilities.EXEMPT.values())


def test_the_pages_named_exist_in_the_console():
    pages = {r.path for r in routes.routes if r.method == "GET"}
    for endpoint, (page, _) in capabilities.OFFERED.items():
        path = page.split("#")[0].split("（")[0]
        if path == "/console/*":
            continue
        assert path in pages, (endpoint, page)


def test_docs_console_md_has_the_generated_table():
    text = (ROOT / "docs" / "console.md").read_text(encoding="utf-8")
    assert capabilities.table() in text, "run: python -m services.gateway.console.capabilities"
