"""Edit ``midi.mappings`` in a YAML config file in place, keeping everything else byte-for-byte.

Used by ``unsing midi learn``: the learned mapping replaces the item with the same ``param`` (or
is appended), items that use the same control are removed, and the file's comments, blank lines,
other sections and line endings stay as they were. Pure text processing: the file is scanned
line by line for the block-style ``midi:`` section, and the result is checked with
``yaml.safe_load`` against the expected document before it atomically replaces the file.
"""

from __future__ import annotations

import copy
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from unsing.config import parse_yaml_mapping
from unsing.errors import ConfigError

#: Keys of a mapping, in the order they are written.
KEY_ORDER = ("param", "cc", "note", "cc_lsb", "channel", "mode", "curve", "min_db", "max_db")

_PLAIN_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]*")
_EMPTY_VALUE_RE = re.compile(r"\s*(\[\s*\]|\{\s*\}|null|Null|NULL|~)?\s*(#.*)?")


def set_midi_mapping(path: Path, mapping: dict[str, Any]) -> str:
    """Write ``mapping`` into the ``midi.mappings`` list of the YAML file at ``path``, in place.

    An item with the same ``param`` is replaced (the first one, if several), otherwise the
    mapping is appended; other items that use the same control (``cc``/``note``/``cc_lsb`` on
    an overlapping channel, where no channel means any) are removed. Only the changed lines
    differ afterwards. Returns a one-line description of the change, e.g.
    ``"replaced midi.mappings[0] (vocal_gain)"``.

    Raises:
        ConfigError: the file cannot be read, is not valid YAML, or its layout cannot be edited
            without touching other settings.
        ValueError: ``mapping`` has no ``param``, an unknown key, or a value that is not a
            scalar.
    """
    new_item = _clean_mapping(mapping)
    path = Path(path)
    real_path = Path(os.path.realpath(path))
    try:
        raw = real_path.read_bytes()
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config file: {error}") from None
    document = _parse(text, path)

    midi = document.get("midi")
    if midi is not None and not isinstance(midi, dict):
        raise ConfigError(f"{path}: midi: must be a mapping of keys, got {midi!r}")
    old_items = (midi or {}).get("mappings")
    if old_items is None:
        old_items = []
    if not isinstance(old_items, list):
        raise ConfigError(f"{path}: midi.mappings: must be a list, got {old_items!r}")

    plan = _plan(old_items, new_item)
    new_text = _Editor(text, path).apply(document, plan)

    expected = copy.deepcopy(document)
    if not isinstance(expected.get("midi"), dict):
        expected["midi"] = {}
    expected["midi"]["mappings"] = plan.items
    try:
        written = _parse(new_text, path)
    except ConfigError:
        written = None
    if not _same(written, expected):
        raise ConfigError(
            f"{path}: cannot update midi.mappings without changing other settings "
            "(unusual layout); edit the file by hand"
        )
    _write_atomically(real_path, new_text.encode("utf-8"))
    return plan.description


# --------------------------------------------------------------------------------------------
# What changes


@dataclass
class _Plan:
    """The new list and which old items it replaces or drops."""

    items: list[Any]
    new_line_item: dict[str, Any]
    old_count: int
    replaced: int | None  # old index replaced by the new item, None: appended
    removed: list[int]  # old indices removed
    description: str


def _clean_mapping(mapping: dict[str, Any]) -> dict[str, Any]:
    """``mapping`` without None values, in ``KEY_ORDER``; checks keys and value types."""
    unknown = [key for key in mapping if key not in KEY_ORDER]
    if unknown:
        raise ValueError(f"unknown MIDI mapping key(s) {unknown} (allowed: {', '.join(KEY_ORDER)})")
    param = mapping.get("param")
    if not isinstance(param, str) or not param:
        raise ValueError(f"a MIDI mapping needs a 'param' string, got {param!r}")
    for key, value in mapping.items():
        if value is not None and not isinstance(value, bool | int | float | str):
            raise ValueError(f"MIDI mapping {key!r}: expected a number or a string, got {value!r}")
    return {key: mapping[key] for key in KEY_ORDER if mapping.get(key) is not None}


def _controls(item: dict[str, Any]) -> set[tuple[str, Any]]:
    """The controls an item listens to: ``("cc", n)`` for cc and cc_lsb, ``("note", n)``."""
    controls = set()
    for key, kind in (("cc", "cc"), ("cc_lsb", "cc"), ("note", "note")):
        if item.get(key) is not None:
            controls.add((kind, item[key]))
    return controls


def _shares_control(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two items use a common control on overlapping channels (None: any channel)."""
    channel_a, channel_b = a.get("channel"), b.get("channel")
    if channel_a is not None and channel_b is not None and channel_a != channel_b:
        return False
    return bool(_controls(a) & _controls(b))


def _describe_control(item: dict[str, Any]) -> str:
    parts = [f"{key} {item[key]}" for key in ("cc", "note", "cc_lsb") if item.get(key) is not None]
    if item.get("channel") is not None:
        parts.append(f"channel {item['channel']}")
    return ", ".join(parts) or "no control"


def _plan(old_items: list[Any], new_item: dict[str, Any]) -> _Plan:
    """Decide which item the new one replaces and which conflicting items go."""
    param = new_item["param"]
    replaced = next(
        (
            i
            for i, item in enumerate(old_items)
            if isinstance(item, dict) and item.get("param") == param
        ),
        None,
    )
    removed = [
        i
        for i, item in enumerate(old_items)
        if i != replaced and isinstance(item, dict) and _shares_control(item, new_item)
    ]
    items: list[Any] = []
    position = -1
    for i, item in enumerate(old_items):
        if i == replaced:
            position = len(items)
            items.append(dict(new_item))
        elif i not in removed:
            items.append(item)
    if replaced is None:
        position = len(items)
        items.append(dict(new_item))
    verb = "added" if replaced is None else "replaced"
    description = f"{verb} midi.mappings[{position}] ({param})"
    if removed:
        gone = "; ".join(
            f"{old_items[i].get('param')} ({_describe_control(old_items[i])})" for i in removed
        )
        description += f"; removed {gone}, which used the same control"
    return _Plan(items, new_item, len(old_items), replaced, removed, description)


# --------------------------------------------------------------------------------------------
# Formatting


def format_mapping(item: dict[str, Any]) -> str:
    """One mapping as a YAML flow mapping, keys in ``KEY_ORDER`` (others after), None omitted."""
    keys = [key for key in KEY_ORDER if key in item] + [key for key in item if key not in KEY_ORDER]
    return (
        "{"
        + ", ".join(f"{_flow(key)}: {_flow(item[key])}" for key in keys if item[key] is not None)
        + "}"
    )


def _flow(value: Any) -> str:
    """``value`` as YAML text usable inside a flow collection; reads back as the same value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"cannot write {value!r} to YAML")


def _float(value: float) -> str:
    """A float PyYAML (YAML 1.1) reads back as a float: needs a '.' and a signed exponent."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{exponent}" if exponent else mantissa


def _string(value: str) -> str:
    """Plain when it reads back as the same string, else double-quoted."""
    if _PLAIN_RE.fullmatch(value):
        try:
            if yaml.safe_load(f"[{value}]") == [value]:
                return value
        except yaml.YAMLError:
            pass
    return yaml.safe_dump(value, default_style='"', allow_unicode=True, width=2**31).strip()


# --------------------------------------------------------------------------------------------
# Text editing


def _body(line: str) -> str:
    """A line without its line ending."""
    return line.rstrip("\r\n")


def _indent(body: str) -> int:
    return len(body) - len(body.lstrip(" "))


def _is_content(body: str) -> bool:
    """Not blank and not only a comment."""
    stripped = body.strip()
    return bool(stripped) and not stripped.startswith("#")


def _is_item(body: str) -> bool:
    """A block sequence entry: ``-`` followed by a space or the end of the line."""
    stripped = body.lstrip(" ")
    return stripped == "-" or stripped.startswith("- ")


def _key_rest(body: str, key: str, indent: int) -> str | None:
    """The text after ``key:`` if ``body`` is that key at exactly ``indent``, else None."""
    match = re.fullmatch(rf" {{{indent}}}(?:{key}|\"{key}\"|'{key}')[ \t]*:(?:([ \t].*)|)", body)
    if match is None:
        return None
    return match.group(1) or ""


def _empty_value(rest: str) -> tuple[bool, str]:
    """Whether ``rest`` (after a key's colon) is empty/null/[]/{}; and its trailing comment."""
    match = _EMPTY_VALUE_RE.fullmatch(rest)
    if match is None:
        return False, ""
    return True, match.group(2) or ""


def _is_document_marker(body: str) -> bool:
    return body in ("---", "...") or body.startswith(("--- ", "... "))


class _Editor:
    """The file as lines (each with its own line ending) and the edits on them."""

    def __init__(self, text: str, path: Path) -> None:
        self.path = path
        self.bom = "\ufeff" if text.startswith("\ufeff") else ""
        text = text[len(self.bom) :]
        self.eol = "\r\n" if "\r\n" in text else "\n"
        self.final_newline = text == "" or text.endswith("\n")
        parts = text.split("\n")
        self.lines = [part + "\n" for part in parts[:-1]]
        if parts[-1]:
            self.lines.append(parts[-1] + self.eol)  # restored on output
        self.top = self._top_indent()

    def text(self) -> str:
        text = self.bom + "".join(self.lines)
        if not self.final_newline and text.endswith("\n"):
            text = text[: -2 if text.endswith("\r\n") else -1]
        return text

    def _error(self, what: str) -> ConfigError:
        return ConfigError(f"{self.path}: cannot edit {what}; edit the file by hand")

    def _top_indent(self) -> int:
        for line in self.lines:
            body = _body(line)
            if _is_content(body) and not _is_document_marker(body) and not body.startswith("%"):
                return _indent(body)
        return 0

    def _unit(self) -> int:
        """The file's indentation step (first deeper line under a top-level key), else 2."""
        previous_top = False
        for line in self.lines:
            body = _body(line)
            if not _is_content(body):
                continue
            indent = _indent(body)
            if previous_top and indent > self.top:
                return indent - self.top
            previous_top = indent == self.top and bool(re.search(r":\s*(#.*)?$", body))
        return 2

    def _line(self, indent: int, text: str) -> str:
        return " " * indent + text + self.eol

    def _section_end(self, start: int, indent: int) -> int:
        """First line after ``start`` that is content at ``indent`` or less (or a doc marker)."""
        for j in range(start + 1, len(self.lines)):
            body = _body(self.lines[j])
            if _is_document_marker(body):
                return j
            if _is_content(body) and _indent(body) <= indent:
                return j
        return len(self.lines)

    def _last_content(self, start: int, end: int) -> int:
        """The last content line in ``start..end-1`` (``start`` itself if none after it)."""
        last = start
        for j in range(start + 1, end):
            if _is_content(_body(self.lines[j])):
                last = j
        return last

    def apply(self, document: dict[str, Any], plan: _Plan) -> str:
        """The edited text."""
        unit = self._unit()
        new_line_text = "- " + format_mapping(plan.new_line_item)
        midi_line = None
        for i, line in enumerate(self.lines):
            if _key_rest(_body(line), "midi", self.top) is not None:
                midi_line = i  # the last one wins, as in PyYAML
        if midi_line is None:
            if "midi" in document:
                raise self._error("the midi section (not a block-style top-level key)")
            self._append_midi_section(unit, new_line_text)
            return self.text()

        rest = _key_rest(_body(self.lines[midi_line]), "midi", self.top) or ""
        end = self._section_end(midi_line, self.top)
        empty, comment = _empty_value(rest)
        if rest.strip() and not rest.strip().startswith("#"):
            if not empty:
                raise self._error("the midi section (written in flow style)")
            self.lines[midi_line] = self._rewrite_key(self.lines[midi_line], comment)
        children = [j for j in range(midi_line + 1, end) if _is_content(_body(self.lines[j]))]
        child = _indent(_body(self.lines[children[0]])) if children else self.top + unit
        step = child - self.top if child > self.top else unit

        key_line = None
        for j in children:
            if _key_rest(_body(self.lines[j]), "mappings", child) is not None:
                key_line = j
        if key_line is None:
            if (document.get("midi") or {}).get("mappings") is not None:
                raise self._error("midi.mappings (not a block-style key)")
            at = self._last_content(midi_line, end) + 1
            self.lines[at:at] = [
                self._line(child, "mappings:"),
                self._line(child + step, new_line_text),
            ]
            return self.text()

        rest = _key_rest(_body(self.lines[key_line]), "mappings", child) or ""
        empty, comment = _empty_value(rest)
        if rest.strip() and not rest.strip().startswith("#"):
            if empty:
                self.lines[key_line] = self._rewrite_key(self.lines[key_line], comment)
                self.lines.insert(key_line + 1, self._line(child + step, new_line_text))
            else:
                self._rewrite_flow_list(key_line, child, step, plan.items)
            return self.text()
        self._edit_block_list(key_line, child, step, end, plan, new_line_text)
        return self.text()

    def _rewrite_key(self, line: str, comment: str) -> str:
        """``key: <empty value>  # comment`` as ``key:  # comment`` (the value's text dropped)."""
        body = _body(line)
        head = body[: body.index(":") + 1]
        return head + (f" {comment}" if comment else "") + line[len(body) :]

    def _append_midi_section(self, unit: int, new_line_text: str) -> None:
        block = [
            self._line(self.top, "midi:"),
            self._line(self.top + unit, "mappings:"),
            self._line(self.top + 2 * unit, new_line_text),
        ]
        if self.lines and _body(self.lines[-1]).strip():
            block.insert(0, self.eol)
        self.lines.extend(block)

    def _rewrite_flow_list(self, key_line: int, child: int, step: int, items: list[Any]) -> None:
        """Replace a flow-style ``mappings: [...]`` (one or more lines) with a block list."""
        end = self._last_content(key_line, self._section_end(key_line, child)) + 1
        self.lines[key_line:end] = [self._line(child, "mappings:")] + [
            self._line(child + step, "- " + _flow_item(item)) for item in items
        ]

    def _edit_block_list(
        self, key_line: int, child: int, step: int, end: int, plan: _Plan, new_line_text: str
    ) -> None:
        """Replace, remove and append items of a block-style list."""
        spans = self._item_spans(key_line, child, end)
        if len(spans) != plan.old_count:
            raise self._error("midi.mappings (its items could not be told apart)")
        if not spans:
            at = key_line + 1
            for j in range(key_line + 1, end):
                body = _body(self.lines[j])
                if _is_content(body):
                    break
                if body.strip() and _indent(body) > child:
                    at = j + 1  # after comments that open the (empty) list
            self.lines.insert(at, self._line(child + step, new_line_text))
            return
        item_indent = _indent(_body(self.lines[spans[0][0]]))
        new_line = self._line(item_indent, new_line_text)
        if plan.replaced is None:
            at = spans[-1][1]
            self.lines.insert(at, new_line)
        for i in sorted([*plan.removed, *([plan.replaced] if plan.replaced is not None else [])])[
            ::-1
        ]:
            start, stop = spans[i]
            self.lines[start:stop] = [new_line] if i == plan.replaced else []

    def _item_spans(self, key_line: int, child: int, end: int) -> list[tuple[int, int]]:
        """``(first, last + 1)`` line of each item: its ``-`` line to its last content line."""
        spans: list[tuple[int, int]] = []
        item_indent = None
        for j in range(key_line + 1, end):
            body = _body(self.lines[j])
            if not _is_content(body):
                continue
            indent = _indent(body)
            if item_indent is None:
                if indent < child or not _is_item(body):
                    break
                item_indent = indent
            if indent < item_indent or (indent == item_indent and not _is_item(body)):
                break
            if indent == item_indent:
                spans.append((j, j + 1))
            else:
                spans[-1] = (spans[-1][0], j + 1)
        return spans


def _flow_item(item: Any) -> str:
    return format_mapping(item) if isinstance(item, dict) else _flow(item)


# --------------------------------------------------------------------------------------------
# Parsing, checking, writing


def _parse(text: str, path: Path) -> dict[str, Any]:
    """The YAML document as a dict (empty file: {}); one-line ``ConfigError`` otherwise."""
    return parse_yaml_mapping(text, path)


def _same(a: Any, b: Any) -> bool:
    """Deep equality that also tells 1 from 1.0 and True from 1, and NaN equals NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``path``, then rename it over ``path``."""
    try:
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = None
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if mode is not None:
            os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException as error:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise ConfigError(f"{path}: cannot write config file: {error}") from None
        raise
