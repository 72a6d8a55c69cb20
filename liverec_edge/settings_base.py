"""The base every config section derives from: unknown keys are errors, values are immutable once loaded,
and each field documents itself (its docstring or ``Field(description=...)`` is what ``check-config`` shows)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, validate_default=True)
