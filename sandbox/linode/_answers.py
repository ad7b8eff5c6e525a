"""Private to sandbox.linode: what the emulator answers, JSON objects, and failures in Linode's error format."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
FieldErrors = list[tuple[str | None, str]]  # (the field at fault or None, the reason), as Linode lists them


class Failure(Exception):
    """An answer in Linode's error format: {"errors": [{"field": ..., "reason": ...}]}."""

    def __init__(self, status: int, errors: FieldErrors) -> None:
        super().__init__(errors)
        self.status = status
        self.errors = errors

    @classmethod
    def of(cls, status: int, reason: str, field_name: str | None = None) -> Failure:
        return cls(status, [(field_name, reason)])

    @classmethod
    def not_found(cls) -> Failure:
        return cls.of(404, "Not found")

    def body(self) -> Json:
        return {"errors": [{"reason": r, **({"field": f} if f else {})} for f, r in self.errors]}
