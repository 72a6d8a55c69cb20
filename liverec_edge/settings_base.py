"""The base every config section derives from: unknown keys are errors, values are immutable once loaded,
and each field documents itself (its docstring or ``Field(description=...)`` is what ``check-config`` shows)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, validate_default=True)


#: Names pydantic gives the branches of a union it tried (``value: float | str``); the user only wrote the key.
_UNION_BRANCHES = {"float", "str", "int", "bool", "none"}


def key_path(loc: Iterable[Any]) -> str:
    """A pydantic error location as the dotted key path the user wrote: ``mixer.bounds[2].min``."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif isinstance(item, str) and (item.startswith(("function-", "literal[")) or item in _UNION_BRANCHES):
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def describe_errors(errors: Iterable[dict[str, Any]], cross_fields: tuple[str, ...] = ()) -> list[str]:
    """One line per problem of a pydantic ``ValidationError.errors()``, each naming the key path, what is wrong and
    the value given. A model-level check whose message starts with one of ``cross_fields`` (``"param: ..."``) has
    that field appended to its key path. A key reported once per union branch is listed once."""
    field_prefix = re.compile(r"^(" + "|".join(map(re.escape, cross_fields)) + r"): ") if cross_fields else None
    problems: list[str] = []
    seen: set[str] = set()
    for error in errors:
        path = key_path(error["loc"])
        if error["type"] == "extra_forbidden":
            line = f"{path}: unknown key (check the spelling; every key is documented in the section's settings)"
        elif error["type"] == "missing":
            line = f"{path}: required key is missing"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            field = field_prefix.match(message) if field_prefix else None
            if field:
                path = f"{path}.{field.group(1)}"
                message = message[field.end():]
            shown = repr(error.get("input"))
            if len(shown) > 80:
                shown = shown[:77] + "..."
            line = f"{path}: {message}" + ("" if field else f" (got {shown})")
        if path in seen:
            continue
        seen.add(path)
        problems.append(line)
    return problems
