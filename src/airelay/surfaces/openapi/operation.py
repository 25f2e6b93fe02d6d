"""One route's entry in the OpenAPI document (``Operation``: who may call it, what it
takes) and the parameter schemas the route tables share, apart from the document's builder
so that each table of operations can live in a module of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airelay.surfaces.admin.common import MAX_PAGE, MAX_PAGE_SIZE

Schema = dict[str, Any]

ADMIN, USER, PUBLIC, CONSOLE = "admin", "user", "public", "console"


@dataclass(frozen=True)
class Operation:
    summary: str
    caller: str  # ADMIN, USER, PUBLIC or CONSOLE (the console's session cookie)
    body: Schema | None = None
    query: tuple[tuple[str, Schema], ...] = ()
    headers: tuple[tuple[str, Schema], ...] = ()
    errors: str = "OpenAIError"
    success: int = 200
    content_type: str = "application/json"  # of the request body


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


STRING: Schema = {"type": "string", "maxLength": 200}
DATE: Schema = {"type": "string", "format": "date", "description": "ISO 8601 date or time"}
PAGING = (
    ("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
    ("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}),
)
RANGE = (("start_date", DATE), ("end_date", DATE))
USAGE_FILTERS = (*PAGING, ("user_id", STRING), ("token_id", STRING), ("model", STRING))
