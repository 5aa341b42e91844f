from collections.abc import Iterator
from pathlib import Path
from typing import Any

from server.http.docs import render
from server.http.routes import ROUTES
from tests.support.world import World


async def test_openapi_document_lists_every_route_with_its_schema(world: World) -> None:
    async with world.client.get("/v1/openapi.json") as response:
        assert response.status == 200
        doc = await response.json()
    assert doc["openapi"] == "3.1.0"
    # exactly the route table: each route once, with its own operation id and its path parameters
    assert {(p, m.upper()) for p, ops in doc["paths"].items() for m in ops} == {(r.path, r.method) for r in ROUTES}
    assert len(ROUTES) == len({(r.path, r.method) for r in ROUTES})
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(set(ids)) == len(ids) == len(ROUTES)
    for route in ROUTES:
        names = [p["name"] for p in doc["paths"][route.path][route.method.lower()].get("parameters", []) if p["in"] == "path"]
        assert ["{" + n + "}" for n in names] == [part for part in route.path.split("/") if part.startswith("{")]
    # every reference leads to a schema the document holds
    refs = list(references(doc))
    assert refs and all(ref.removeprefix("#/components/schemas/") in doc["components"]["schemas"] for ref in refs), refs
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
        # what it answers: a schema of its own (not a bare object) for each success status, and errors
        responses = operation["responses"]
        assert set(responses) == {str(s) for s in route.status} | {"default"}, route.path
        for status in route.status:
            content = responses[str(status)]["content"]
            if route.response is bytes:
                assert content == {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
                continue
            name = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            assert name == route.response.__name__
            schema = doc["components"]["schemas"][name]
            assert schema["type"] == "object" and schema["properties"] and schema["additionalProperties"] is False
            assert set(schema["required"]) <= set(schema["properties"])
    envelope = doc["components"]["schemas"]["IntakeEnvelope"]
    assert envelope["properties"]["case_id"]["contentEncoding"] == "base64url"
    # a field that may be absent is not required; one that may be null says so
    attachment = doc["components"]["schemas"]["AttachmentState"]
    assert "signed_receipt" not in attachment["required"] and "received" in attachment["required"]
    assert doc["components"]["schemas"]["CaseList"]["properties"]["next_cursor"]["anyOf"][1] == {"type": "null"}
    assert doc["components"]["schemas"]["Switched"]["required"] == ["case_id", "from", "to", "contributions"]
    # null only where the server serves a case whose header a re-key replaced
    assert envelope["properties"]["header"] == {"anyOf": [{"$ref": "#/components/schemas/IdentityHeader"}, {"type": "null"}]}


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def test_docs_api_md_is_current() -> None:
    path = Path(__file__).parents[2] / "docs" / "api.md"
    assert path.read_text() == render(), "regenerate with: python -m server.http.docs > docs/api.md"
