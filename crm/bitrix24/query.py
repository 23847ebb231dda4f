"""PHP `http_build_query` / `parse_str` for Bitrix24 batch commands and form bodies.

A batch `cmd` is `method?query` where the query is PHP-bracket encoded:
`crm.lead.add?fields[TITLE]=A%26B&fields[PHONE][0][VALUE]=%2B7900`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote_plus

# Brackets stay literal in keys (as in Bitrix24's own examples); in values `$` and brackets stay
# literal too so a `$result[key][ID]` reference reaches the server's batch substitution untouched.
_KEY_SAFE = "[]"
_VALUE_SAFE = "$[]"

_KEY_PART = re.compile(r"\[([^\]]*)\]")


def http_build_query(params: Mapping[str, Any]) -> str:
    """Encode nested params like PHP: dicts and lists become `key[sub]`, None is dropped."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        _flatten(str(key), value, pairs)
    return "&".join(f"{quote_plus(k, safe=_KEY_SAFE)}={quote_plus(v, safe=_VALUE_SAFE)}" for k, v in pairs)


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if value is None:
        return  # PHP's http_build_query skips nulls
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}[{k}]", v, out)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, out)
    elif isinstance(value, bool):
        out.append((prefix, "1" if value else "0"))  # PHP encodes true/false as 1/0
    else:
        out.append((prefix, str(value)))


def parse_php_query(query: str) -> dict[str, Any]:
    """Decode a PHP-bracket query into nested dicts; maps keyed 0..n-1 become lists (like PHP→JSON)."""
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(query, keep_blank_values=True):
        head, _, rest = raw_key.partition("[")
        parts = [head, *_KEY_PART.findall("[" + rest)] if rest else [head]
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                part = str(sum(1 for k in node if k.isdigit()))  # `a[]=` appends
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
    listed = _listify(root)
    # A query of bare indexes (`0=a&1=b`) would listify; the top level is always a map of names.
    return listed if isinstance(listed, dict) else {str(i): v for i, v in enumerate(listed)}


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    out = {k: _listify(v) for k, v in node.items()}
    if out and all(k.isdigit() for k in out) and sorted(int(k) for k in out) == list(range(len(out))):
        return [out[str(i)] for i in range(len(out))]
    return out
