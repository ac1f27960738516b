"""`/docs` and `/redoc` work offline (their assets come from a pip package, served here), and the
OpenAPI document states the errors every route shares."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.asyncio(loop_scope="session")


class _References(HTMLParser):
    """Every URL an HTML page makes the browser load or link to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def _references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    # Also URLs written into the page's scripts (Swagger UI's config).
    return parser.urls + re.findall(r"""["'`]((?:https?:)?//[^"'`]+)["'`]""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_page_loads_nothing_from_another_host(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)

    assert response.status_code == 200
    urls = _references(response.text)
    assert urls, "the page references its assets"
    external = [url for url in urls if url.startswith(("http:", "https:", "//"))]
    assert external == []
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url  # the real bundle, not a stub


async def test_swagger_ui_does_not_send_the_document_to_the_public_validator(
    client: httpx.AsyncClient,
) -> None:
    assert '"validatorUrl": null' in (await client.get("/docs")).text


async def _openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    document: dict[str, Any] = (await client.get("/openapi.json")).json()
    return document


async def test_metrics_are_documented_as_text(client: httpx.AsyncClient) -> None:
    ok = (await _openapi(client))["paths"]["/metrics"]["get"]["responses"]["200"]

    assert list(ok["content"]) == ["text/plain"]
    assert (await client.get("/metrics")).headers["content-type"].startswith("text/plain")


async def test_every_operation_with_a_body_documents_400_and_413(
    client: httpx.AsyncClient,
) -> None:
    operations = [
        (path, method, operation)
        for path, methods in (await _openapi(client))["paths"].items()
        for method, operation in methods.items()
        if "requestBody" in operation
    ]

    assert len(operations) > 10
    for path, method, operation in operations:
        responses = operation["responses"]
        assert "invalid_body" in responses["400"]["description"], (method, path)
        assert "payload_too_large" in responses["413"]["description"], (method, path)


async def test_every_documented_error_is_in_the_one_error_shape(
    client: httpx.AsyncClient,
) -> None:
    document = await _openapi(client)

    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (
                        method,
                        path,
                        status,
                    )


async def test_an_unconfigured_feature_is_documented_as_a_404(client: httpx.AsyncClient) -> None:
    paths = (await _openapi(client))["paths"]

    for path in ("/flights/status-feed", "/payments/webhooks/{provider}"):
        not_found = paths[path]["post"]["responses"]["404"]
        assert "feature_not_configured" in not_found["description"], path
        assert "503" not in paths[path]["post"]["responses"], path
