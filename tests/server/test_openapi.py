from pathlib import Path

from server.http.docs import render
from server.http.openapi import document
from server.http.routes import ROUTES

from .conftest import World


async def test_openapi_document_lists_every_route_with_its_schema(world: World) -> None:
    async with world.client.get("/v1/openapi.json") as response:
        assert response.status == 200
        doc = await response.json()
    assert doc == document()
    assert doc["openapi"] == "3.1.0"
    for route in ROUTES:
        operation = doc["paths"][route.path][route.method.lower()]
        assert ("security" in operation) == (route.roles is not None)
        if route.body is bytes:
            content = operation["requestBody"]["content"]
            assert content == {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
        elif route.body is not None:
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
            assert schema["additionalProperties"] is False and schema["required"]
    envelope = doc["components"]["schemas"]["IntakeEnvelope"]
    assert envelope["properties"]["case_id"]["contentEncoding"] == "base64url"
    # null only where the server serves a case whose header a re-key replaced
    assert envelope["properties"]["header"] == {"anyOf": [{"$ref": "#/components/schemas/IdentityHeader"}, {"type": "null"}]}


def test_docs_api_md_is_current() -> None:
    path = Path(__file__).parents[2] / "docs" / "api.md"
    assert path.read_text() == render(), "regenerate with: python -m server.http.docs > docs/api.md"
