"""docs/api.md: the route table with the roles that may call each route, generated from server/http/routes.py.

Run `python -m server.http.docs > docs/api.md`; a test fails when the file is out of date.
"""

from __future__ import annotations

from server.http.routes import ROUTES

ROLES = ("helper", "council", "admin", "case")


def render() -> str:
    lines = [
        "# Tessera API v1: routes and who may call them",
        "",
        "Generated from `server/http/routes.py` by `python -m server.http.docs`; the authentication middleware",
        "enforces exactly this table and `tests/server/test_auth_and_roles.py` checks every cell.",
        "`case` is a helper reaching one of their own cases through that case's reply key, not their account.",
        "Unauthenticated calls to a signed route get 401; a role not listed gets 403.",
        "",
        "The answer column names the response's schema in `/v1/openapi.json` (`components/schemas`, made from",
        "`contract/answers.py`) and its status; `bytes` is an `application/octet-stream` body.",
        "",
        "| method | path | " + " | ".join(ROLES) + " | what | answer |",
        "|---|---|" + "---|" * len(ROLES) + "---|---|",
    ]
    for r in ROUTES:
        cells = ["public" if r.roles is None else ("yes" if role in r.roles else "-") for role in ROLES]
        answer = f"`{r.response.__name__}` " + "/".join(str(s) for s in r.status)
        lines.append(f"| {r.method} | `{r.path}` | " + " | ".join(cells) + f" | {r.summary} | {answer} |")
    lines += [
        "",
        "Signed requests carry `X-Tessera-Principal` (account name, or `case:<case id>`), `X-Tessera-Time` (unix",
        "seconds, within ±5 minutes), `X-Tessera-Nonce` (16 random bytes, base64url, never reused) and",
        "`X-Tessera-Signature`: Ed25519 over method, raw path, raw query, BLAKE2b digest of the body, time, nonce",
        'and principal (`keys/requests.py`). Errors are `{"error": code, "message": text}`.',
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
