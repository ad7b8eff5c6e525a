"""The config file's section toolkit: typed pydantic models whose refusals name the key at fault.

A section refuses unknown keys by name, takes YAML's types strictly (no coercion), and turns pydantic's
first failure into jarvis's wording, ``<file>: <dotted.key> must be …`` (never echoing the value: it may be
a secret). orchestrator/config.py, the executors' sections and the bot's use it.
"""

from __future__ import annotations

import dataclasses
import typing
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from orchestrator.errors import ConfigError

__all__ = [
    "NULL_IS_DEFAULT",
    "NullIsDefault",
    "Section",
    "otherwise",
    "parse_section",
    "required",
    "section_from_dataclass",
]


class _NullIsDefault:
    """Marks a field whose ``null`` means "not given" (its default), as a bare ``key:`` in YAML reads."""


_T = TypeVar("_T")
NULL_IS_DEFAULT = _NullIsDefault()
NullIsDefault = Annotated[_T, NULL_IS_DEFAULT]


class Section(BaseModel):
    """A section of the config file: strict types (YAML's, no coercion), unknown keys refused by name.

    ``unknown_key`` words the refusal of an unknown key; ``{at}`` is the section followed by ": " (nothing
    at the top level), ``{section}`` the section, ``{key}`` the key and ``{known}`` the known ones.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    unknown_key: ClassVar[str] = "{at}unknown key {key!r} (known: {known})"

    @model_validator(mode="before")
    @classmethod
    def _unknown_keys_and_nulls(cls, data: Any) -> Any:
        """Refuse an unknown key before anything else; drop the nulls of NullIsDefault fields."""
        if not isinstance(data, dict):
            return data
        if cls.model_config.get("extra") == "forbid":
            unknown = sorted(set(data) - set(cls.model_fields), key=str)
            if unknown:
                known = ", ".join(sorted(cls.model_fields))
                context = {"key": unknown[0], "known": known, "template": cls.unknown_key}
                raise PydanticCustomError("unknown_key", "unknown key {key}", context)
        return {key: value for key, value in data.items() if value is not None or not cls._null_is_default(key)}

    @classmethod
    def _null_is_default(cls, key: Any) -> bool:
        field_info = cls.model_fields.get(key)
        return field_info is not None and any(isinstance(mark, _NullIsDefault) for mark in field_info.metadata)


def otherwise(message: str) -> WrapValidator:
    """Word any failure of the field's value as MESSAGE, formatted with ``{value}`` (what was given).

    A message that continues the key's sentence starts with "must" or "is" (``zones must be …``); any
    other follows a colon (``executor.port: expected …``).
    """

    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except (ValidationError, ValueError):
            raise ValueError(message.format(value=value)) from None

    return WrapValidator(check)


def required() -> Any:
    """The default of a key that must be given: left out, it is refused in its field's words, as a null is."""
    return Field(None, validate_default=True)


_Model = TypeVar("_Model", bound=BaseModel)
# What pydantic's type errors become: "<key> must be <this>".
_TYPE_WORDS = {
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "string_type": "a string",
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
}


def parse_section(model: type[_Model], raw: Any, path: Path | None, section: str = "") -> _Model:
    """RAW checked as MODEL, the config's SECTION (dotted; "" for the whole file) in file PATH.

    The first failure becomes a ConfigError naming its key: ``<file>: <section>.<key> must be …``.
    """
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise _refusal(error.errors(include_url=False)[0], path, section) from None


def _refusal(failure: Any, path: Path | None, section: str) -> ConfigError:
    where = f"{path}: " if path else ""
    key = _dotted([*([section] if section else []), *failure["loc"]])
    context = failure.get("ctx") or {}
    if failure["type"] == "unknown_key":
        at = f"{key}: " if key else ""
        return ConfigError(where + context["template"].format(at=at, section=key, **context))
    if failure["type"] == "value_error":
        message = str(context["error"])
    elif failure["type"] == "missing":
        message = "is required"
    else:
        # Not what was given: it may be a secret. A field's own words (otherwise) may show it.
        message = f"must be {_TYPE_WORDS.get(failure['type']) or failure['msg'].removeprefix('Input should be ')}"
    if not key:
        return ConfigError(where + message)
    return ConfigError(f"{where}{key}{' ' if message.startswith(('must ', 'is ')) else ': '}{message}")


def _dotted(loc: list[Any]) -> str:
    """A pydantic location as the config's key: ``gitosis.remotes``, ``cli_admins[1]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


@cache
def section_from_dataclass(dataclass_type: type[Any]) -> type[Section]:
    """A section model with DATACLASS_TYPE's fields (names, types, defaults): the dataclass says them once."""
    hints = typing.get_type_hints(dataclass_type)
    fields: dict[str, Any] = {}
    for item in dataclasses.fields(dataclass_type):
        if item.default_factory is not dataclasses.MISSING:
            fields[item.name] = (hints[item.name], Field(default_factory=item.default_factory))
        else:
            fields[item.name] = (hints[item.name], ... if item.default is dataclasses.MISSING else item.default)
    return create_model(f"{dataclass_type.__name__}Section", __base__=Section, **fields)
