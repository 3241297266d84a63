"""Blocks are their settings models as Prefect documents: the same field names, one source.

A block declares each field of its settings model under the same name and type, and takes the
default, description and constraints from the model (``like``); ``to_settings`` is then
``model_validate`` of the block's values (``settings_from``). ``tests/test_block_standards.py``
checks that the names and types match, so a setting added to the model without its block field
(or the other way round) fails the suite.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError
from pydantic.fields import FieldInfo

from switchboard import ConfigurationError

__all__ = ["like", "settings_from"]

_M = TypeVar("_M", bound=BaseModel)


def like(model: type[BaseModel], name: str, *, title: str) -> Any:
    """A block field with ``model.<name>``'s default, description and constraints.

    ``title`` is the label Prefect's block form shows (the settings model has none: there the
    name is the environment variable). Environment aliases (``VAULT_ADDR``, ...) are left out:
    a block is filled by name only.
    """
    source = model.model_fields[name]
    field: FieldInfo = (
        Field(default_factory=source.default_factory, title=title, description=source.description)
        if source.default_factory is not None
        else Field(default=source.default, title=title, description=source.description)
    )
    field.metadata = list(source.metadata)  # gt=0 and the like
    return field


def settings_from(block: BaseModel, model: type[_M]) -> _M:
    """``model`` validated from the block's same-named fields (environment ignored).

    Raises:
        ConfigurationError: a value the model refuses, naming the block and the field.
    """
    values = {name: getattr(block, name) for name in model.model_fields}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigurationError(
            f"{type(block).__name__}: {where + ': ' if where else ''}{message}"
        ) from None
