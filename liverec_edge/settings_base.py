"""The base every config section derives from: unknown keys are errors, values are immutable once loaded,
and each field documents itself (its docstring or ``Field(description=...)`` is what ``check-config`` shows)."""

from __future__ import annotations

import math
import re
import types
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

#: Deepest YAML nesting a settings file may have. No real config comes near it; far deeper input overflows the
#: parser's recursion (a RecursionError traceback) instead of being reported as a config problem.
MAX_YAML_DEPTH = 100


class Section(BaseModel):
    # allow_inf_nan=False: a .nan or .inf given for any float (a timeout, a threshold, a bound) is an error, never a
    # value that silently disables what it configures (NaN fails every comparison; inf never elapses). The few
    # fields that legitimately take -inf (fader levels) say so with MinusInfFloat.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, validate_default=True,
                              allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_bools_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # Pydantic's lax mode reads true/false as 1/0: `port: true` would listen on port 1. A YAML boolean where a
        # number is expected is always a mistake, so it is refused here once for every section.
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and _bool_where_number(field.annotation, value):
            raise ValueError("expected a number, not true/false")
        return value


def _bool_where_number(annotation: Any, value: Any) -> bool:
    """Whether ``value`` holds a bool where ``annotation`` wants an int or a float (looking into dicts/lists)."""
    if annotation in (int, float):
        return isinstance(value, bool)
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        return _bool_where_number(args[0], value)
    if origin in (Union, types.UnionType):
        if bool in args:
            return False  # a field that takes a bool too: true/false is meant
        return any(_bool_where_number(arg, value) for arg in args if arg is not type(None))
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        return any(_bool_where_number(args[1], item) for item in value.values())
    if origin in (list, tuple, set, frozenset) and args and isinstance(value, (list, tuple)):
        items = args[:1] if origin is not tuple or (len(args) == 2 and args[1] is Ellipsis) else args
        return any(_bool_where_number(items[min(i, len(items) - 1)], item) for i, item in enumerate(value))
    return False


def _finite_or_minus_inf(value: float) -> float:
    if math.isnan(value) or value == math.inf:
        raise ValueError("expected a finite number or -inf")
    return value


#: A float that may be -inf (a fader or send level: the desk's own "off"), never NaN or +inf.
MinusInfFloat = Annotated[float, Field(allow_inf_nan=True), AfterValidator(_finite_or_minus_inf)]


# --- reading settings files -----------------------------------------------------------------------------------------


class SettingsFileError(Exception):
    """A settings file that cannot be read or parsed; the message says why and where, the caller names the file."""


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (plain YAML keeps the last one silently, so a
    second ``mixer:`` section would quietly replace the first), a key that is a list or mapping, and nesting
    deeper than :data:`MAX_YAML_DEPTH`. Every YAML file the daemon reads (config, strategies, firmware) uses it."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        # The composer recurses once per nesting level: counted here, so `[[[[…` ×5000 is a clear error instead
        # of a RecursionError from deep inside PyYAML (or from pydantic, further on).
        depth = getattr(self, "_depth", 0)
        if depth >= MAX_YAML_DEPTH:
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, f"nesting deeper than {MAX_YAML_DEPTH} levels (no settings file needs that)", mark)
        self._depth = depth + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth = depth


def _mapping_without_duplicates(loader: UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key_node, (yaml.SequenceNode, yaml.MappingNode)) or not isinstance(key, Hashable):
            # `? [a, b]` is valid YAML but no setting is named by a list or mapping (and a list key is unhashable)
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain name, not a list or mapping", key_node.start_mark)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first given on line {seen[key].start_mark.line + 1})",
                key_node.start_mark)
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def read_text(path: Path) -> str:
    """The file's text, which must be UTF-8. Raises :class:`SettingsFileError` (``OSError`` is left to the caller,
    which words a missing file its own way)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        hint = " (it looks like UTF-16: save it as UTF-8)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise SettingsFileError(
            f"not a UTF-8 text file: byte 0x{data[exc.start]:02x} at offset {exc.start} cannot be decoded"
            f"{hint or ' (save it as UTF-8)'}") from None


def parse_yaml(text: str) -> Any:
    """Parse settings YAML with :class:`UniqueKeyLoader`. Raises :class:`SettingsFileError` naming line and column."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass: safe
    except yaml.reader.ReaderError as exc:  # its str() spans two lines and names no line: say where, on one
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise SettingsFileError(f"YAML error at line {line}: character #x{char:04x} is not allowed in YAML") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        syntax = not isinstance(exc, yaml.constructor.ConstructorError) and "nesting deeper" not in str(problem)
        raise SettingsFileError(f"YAML {'syntax ' if syntax else ''}error at {where}{problem}") from None
    except RecursionError:  # belt and braces: the depth limit above should make this unreachable
        raise SettingsFileError(f"YAML error: nesting too deep (more than {MAX_YAML_DEPTH} levels)") from None


def load_yaml_file(path: Path) -> Any:
    """Read and parse a UTF-8 settings YAML. Raises ``OSError`` or :class:`SettingsFileError`."""
    return parse_yaml(read_text(path))


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
