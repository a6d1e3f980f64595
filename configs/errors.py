"""One error type for bad config input, and readable messages from pydantic's errors."""

from __future__ import annotations

import difflib
import typing

from pydantic import BaseModel, ValidationError


class ConfigError(ValueError):
    """Bad user configuration. The message names the field, the value and the fix."""


def _fix_hint(kind: str, loc: tuple[str | int, ...], model: type[BaseModel] | None) -> str:
    if kind == "extra_forbidden":
        return "remove it or fix its spelling" + _suggestion(str(loc[-1]), loc, model)
    if kind == "missing":
        return "add it"
    if kind.startswith(("greater", "less")):
        return "change the value to satisfy the bound"
    if kind == "literal_error":
        return "use one of the allowed values"
    return "fix the value"


def _suggestion(key: str, loc: tuple[str | int, ...], model: type[BaseModel] | None) -> str:
    fields = _fields_at(model, loc[:-1])
    close = difflib.get_close_matches(key, fields, n=1)
    return f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(sorted(fields))})"


def _fields_at(model: type[BaseModel] | None, loc: tuple[str | int, ...]) -> list[str]:
    for part in loc:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return []
        annotation = model.model_fields[part].annotation
        # `X | None` (an optional section such as a sweep's recipe) suggests X's fields
        candidates = (annotation, *typing.get_args(annotation))
        model = next((a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return list(model.model_fields) if model else []


def format_validation_error(
    err: ValidationError, prefix: str = "", where: str = "", model: type[BaseModel] | None = None
) -> str:
    """Turn a pydantic ValidationError into one line per problem: path, value, rule, fix."""
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        path = ".".join(str(p) for p in ((prefix,) if prefix else ()) + loc) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "value_error":  # our own validators already say what to do
            lines.append(f"{path}: {msg}")
            continue
        value = e.get("input")
        shown = f" = {value!r}" if e["type"] != "missing" else ""
        lines.append(f"{path}{shown}: {msg}; {_fix_hint(e['type'], loc, model)}")
    head = f"invalid config ({where})" if where else "invalid config"
    return head + ":\n  " + "\n  ".join(lines)

