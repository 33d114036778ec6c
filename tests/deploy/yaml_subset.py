"""A strict reader for the YAML that compose.yaml is written in, and nothing more.

PyYAML is not among the dependencies, and a test that reads the compose file must not guess. This
reads block mappings and block sequences indented with spaces, plain and double-quoted scalars,
flow sequences written as JSON arrays, `&anchor` on a nested mapping, `*alias` and the `<<` merge
key; anything else (single quotes, block scalars, flow mappings, tags, tabs, several documents, a
duplicate key) is an error naming the line, so the file cannot drift into YAML this reads wrongly.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

_KEY = re.compile(r"^(?P<key>[A-Za-z0-9_.<-]+):(?:[ ](?P<rest>.*))?$")
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_UNSUPPORTED_START = tuple("'{|>!%@`&")


class YamlSubsetError(ValueError):
    pass


@dataclass(frozen=True)
class _Line:
    number: int
    indent: int
    text: str


def yaml_subset_load(text: str) -> Any:
    lines = _lines(text)
    if not lines:
        return None
    value, position = _block(lines, 0, lines[0].indent, {})
    if position != len(lines):
        raise YamlSubsetError(f"line {lines[position].number}: unexpected indentation")
    return value


def _lines(text: str) -> list[_Line]:
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if "\t" in raw:
            raise YamlSubsetError(f"line {number}: a tab")
        content = _without_comment(raw, number).rstrip()
        if not content.strip():
            continue
        if content.startswith(("---", "...")):
            raise YamlSubsetError(f"line {number}: one document only")
        lines.append(_Line(number, len(content) - len(content.lstrip(" ")), content.strip()))
    return lines


def _without_comment(raw: str, number: int) -> str:
    in_quotes = False
    escaped = False
    for index, char in enumerate(raw):
        if in_quotes:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_quotes = False
        elif char == '"':
            in_quotes = True
        elif char == "#" and (index == 0 or raw[index - 1] == " "):
            return raw[:index]
    if in_quotes:
        raise YamlSubsetError(f"line {number}: an unclosed quote")
    return raw


def _block(lines: list[_Line], position: int, indent: int, anchors: dict[str, Any]) -> Any:
    if lines[position].text.startswith("- "):
        return _sequence(lines, position, indent, anchors)
    return _mapping(lines, position, indent, anchors)


def _mapping(
    lines: list[_Line], position: int, indent: int, anchors: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    result: dict[str, Any] = {}
    merged: dict[str, Any] = {}
    while position < len(lines) and lines[position].indent == indent:
        line = lines[position]
        match = _KEY.match(line.text)
        if match is None:
            raise YamlSubsetError(f"line {line.number}: expected `key: value`")
        key, rest = match["key"], (match["rest"] or "").strip()
        if key in result or (key == "<<" and merged):
            raise YamlSubsetError(f"line {line.number}: {key!r} twice")
        position += 1
        if rest == "" or rest.startswith("&"):
            anchor = rest[1:]
            if rest and not _NAME.match(anchor):
                raise YamlSubsetError(f"line {line.number}: a bad anchor name")
            value: Any = None
            if position < len(lines) and lines[position].indent > indent:
                value, position = _block(lines, position, lines[position].indent, anchors)
            if anchor:
                anchors[anchor] = value
        else:
            value = _scalar(rest, line, anchors)
        if key == "<<":
            if not isinstance(value, dict):
                raise YamlSubsetError(f"line {line.number}: `<<` must merge a mapping alias")
            merged = value
        else:
            result[key] = value
    # Merged keys never override the mapping's own (YAML's merge key).
    return {**merged, **result}, position


def _sequence(
    lines: list[_Line], position: int, indent: int, anchors: dict[str, Any]
) -> tuple[list[Any], int]:
    items = []
    while position < len(lines) and lines[position].indent == indent:
        line = lines[position]
        if not line.text.startswith("- "):
            raise YamlSubsetError(f"line {line.number}: a mapping key among sequence items")
        items.append(_scalar(line.text[2:].strip(), line, anchors))
        position += 1
    if position < len(lines) and lines[position].indent > indent:
        raise YamlSubsetError(f"line {lines[position].number}: only scalars in block sequences")
    return items, position


def _scalar(text: str, line: _Line, anchors: dict[str, Any]) -> Any:
    if text.startswith("*"):
        if text[1:] not in anchors:
            raise YamlSubsetError(f"line {line.number}: unknown alias {text}")
        return copy.deepcopy(anchors[text[1:]])
    if text.startswith(('"', "[")):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise YamlSubsetError(f"line {line.number}: not a JSON string or array") from None
        if isinstance(value, list) and not all(isinstance(item, str) for item in value):
            raise YamlSubsetError(f"line {line.number}: flow sequences of strings only")
        return value
    if text.startswith(_UNSUPPORTED_START) or ": " in text or text.endswith(":"):
        raise YamlSubsetError(f"line {line.number}: outside the subset: {text}")
    if text in {"true", "false"}:
        return text == "true"
    if text in {"null", "~"}:
        return None
    if text.isdigit():
        return int(text)
    return text
