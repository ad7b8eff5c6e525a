"""Private to sandbox.linode: Linode's X-Filter header and its pages of lists."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from sandbox.linode._answers import Failure, Json

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "+gt": lambda a, b: bool(a > b),
    "+gte": lambda a, b: bool(a >= b),
    "+lt": lambda a, b: bool(a < b),
    "+lte": lambda a, b: bool(a <= b),
}


def _filter_error(reason: str) -> Failure:
    return Failure.of(400, reason, "X-Filter")


def filtered(items: list[Json], header: str | None, filterable: frozenset[str]) -> list[Json]:
    """ITEMS that match Linode's X-Filter HEADER (+and, +or, equality, +contains, +neq, +gt…), in its order."""
    if not header:
        return items
    try:
        spec = json.loads(header)
    except ValueError:
        raise _filter_error("Invalid JSON") from None
    if not isinstance(spec, dict):
        raise _filter_error("Filter must be a JSON object")
    order_by, order = spec.pop("+order_by", None), spec.pop("+order", "asc")
    limit = spec.pop("+limit", None)
    matched = [item for item in items if _matches(item, spec, filterable)]
    if order_by is not None:
        if order_by not in filterable or order not in ("asc", "desc"):
            raise _filter_error(f"Cannot order by {order_by} {order}")
        try:
            matched.sort(key=lambda item: _lookup(item, order_by), reverse=order == "desc")
        except TypeError:
            raise _filter_error(f"Cannot order by {order_by}") from None
    if limit is not None:
        if not isinstance(limit, int) or limit < 1:
            raise _filter_error("+limit must be a positive integer")
        matched = matched[:limit]
    return matched


def _matches(item: Json, spec: Json, filterable: frozenset[str]) -> bool:
    results = []
    for key, condition in spec.items():
        if key in ("+and", "+or"):
            if not isinstance(condition, list) or not all(isinstance(c, dict) for c in condition):
                raise _filter_error(f"{key} takes a list of filters")
            parts = [_matches(item, c, filterable) for c in condition]
            results.append(all(parts) if key == "+and" else any(parts))
        elif key.startswith("+"):
            raise _filter_error(f"Unknown operator {key}")
        elif key not in filterable:
            raise _filter_error(f"Cannot filter on {key}")
        else:
            results.append(_holds(_lookup(item, key), condition))
    return all(results)


def _holds(value: Any, condition: Any) -> bool:
    if not isinstance(condition, dict):
        return condition in value if isinstance(value, list) else bool(value == condition)
    results = []
    for operator, operand in condition.items():
        if operator == "+contains":
            results.append(str(operand) in value if isinstance(value, str) else operand in (value or []))
        elif operator == "+neq":
            results.append(operand not in value if isinstance(value, list) else value != operand)
        elif operator == "+or":
            if not isinstance(operand, list):
                raise _filter_error("+or takes a list of values")
            results.append(any(_holds(value, alternative) for alternative in operand))
        elif operator in _COMPARISONS:
            try:
                results.append(_COMPARISONS[operator](value, operand))
            except TypeError:
                raise _filter_error(f"Cannot compare with {operator}") from None
        else:
            raise _filter_error(f"Unknown operator {operator}")
    return all(results)


def _lookup(item: Json, dotted: str) -> Any:
    value: Any = item
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def page(items: list[Json], query: dict[str, list[str]]) -> Json:
    """One page of ITEMS, as Linode pages its lists (page from 1, page_size 25–500, default 100)."""
    number, page_size = _query_int(query, "page", 1), _query_int(query, "page_size", 100)
    if number < 1:
        raise Failure.of(400, "Must be a positive integer", "page")
    if not 25 <= page_size <= 500:
        raise Failure.of(400, "Must be 25-500", "page_size")
    return {
        "data": items[(number - 1) * page_size : number * page_size],
        "page": number,
        "pages": max(1, math.ceil(len(items) / page_size)),
        "results": len(items),
    }


def _query_int(query: dict[str, list[str]], key: str, default: int) -> int:
    values = query.get(key)
    if not values:
        return default
    try:
        return int(values[-1])
    except ValueError:
        raise Failure.of(400, "Must be an integer", key) from None
