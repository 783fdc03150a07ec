"""Typed, frozen settings trees read from YAML: the machinery behind the runtime config
(``unsing.config``) and the training recipes (``unsing.models.recipe``).

A tree is a frozen dataclass whose fields are sections (dataclasses) of keys declared with
:func:`setting` (documentation and validation rules as metadata). :func:`build` turns nested
YAML data into it, checking every value's type and range; unknown keys are errors with a
"did you mean"; every error is one line naming the file (or ``command line``), the key, the bad
value and what is allowed. ``origins`` maps ``section.key`` to where its value came from.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from unsing.errors import ConfigError


def setting(
    doc: str,
    *,
    choices: Sequence[Any] | None = None,
    min: float | None = None,
    max: float | None = None,
    path: bool = False,
    default: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field with its documentation and validation rules as metadata."""
    metadata = {"doc": doc, "choices": choices, "min": min, "max": max, "path": path}
    return dataclasses.field(default=default, metadata=metadata)


def origin_of(origins: Mapping[str, str], key: str) -> str:
    """Where the value of dotted ``key`` (``midi.mappings[2].cc`` too) came from."""
    section_key = ".".join(key.split(".")[:2]).split("[")[0]
    return origins.get(section_key) or origins.get("", "config.yaml")


def to_jsonable(value: Any) -> Any:
    """A config (or any dataclass tree) as JSON-able data: paths as strings, inf as text."""
    if dataclasses.is_dataclass(value):
        return {
            f.name: to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name != "origins" and not f.name.startswith("_")
        }
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    return value


def read_yaml(path: Path, kind: str = "config") -> dict[str, Any]:
    """Read one YAML mapping (a ``kind`` file), turning every failure into a one-line
    ``ConfigError``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(f"{path}: {kind} file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read {kind} file: {error}") from None
    return parse_yaml_mapping(text, path)


def parse_yaml_mapping(text: str, path: Path | str) -> dict[str, Any]:
    """A YAML document that must be a mapping (empty: {}); one-line ``ConfigError`` otherwise."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of sections, not {type(data).__name__}"
        )
    return data


def origins_of(data: dict[str, Any], source: str) -> dict[str, str]:
    """``{"section.key": source}`` for every key of every section in ``data``."""
    return {
        f"{section}.{key}": source
        for section, values in data.items()
        if isinstance(values, dict)
        for key in values
    }


class PathValue(str):
    """A string from a YAML file, remembering the folder relative paths resolve against."""

    base_dir: Path

    def __new__(cls, value: str, base_dir: Path) -> PathValue:
        instance = super().__new__(cls, value)
        instance.base_dir = base_dir
        return instance


def with_base_dir(data: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Tag every string with the folder of its file, so path keys resolve relative to it."""

    def tag(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: tag(item) for key, item in value.items()}
        if isinstance(value, list):
            return [tag(item) for item in value]
        if isinstance(value, str):
            return PathValue(value, base_dir)
        return value

    return tag(data)


def overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: ``top`` wins; lists are replaced whole."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = overlay(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_override(text: str) -> tuple[str, Any]:
    """``"section.key=value"`` -> ``("section.key", value parsed as YAML)``."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected section.key=value, e.g. stft.n_fft=2048")
    dotted, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return dotted.strip(), value


def unknown_key_message(name: str, prefix: str, allowed: Sequence[str], source: str) -> str:
    """One line: the unknown key, the closest allowed one, and every allowed one."""
    where = f"{prefix}{name}"
    close = (
        difflib.get_close_matches(name, allowed, n=1, cutoff=0.5)
        or [a for a in allowed if a.startswith(name[:3])][:1]
    )
    hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
    return f"{source}: unknown key '{where}'{hint} (allowed: {', '.join(allowed)})"


def build(cls: type, data: Any, prefix: str, origins: Mapping[str, str]) -> Any:
    """Build dataclass ``cls`` from ``data``, validating every field."""
    source = origin_of(origins, prefix.rstrip("."))
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: {prefix.rstrip('.') or 'config'}: must be a mapping, got {data!r}"
        )
    fields = [f for f in dataclasses.fields(cls) if f.name != "origins"]
    names = [f.name for f in fields]
    for key in data:
        if key not in names:
            where = origin_of(origins, f"{prefix}{key}")
            raise ConfigError(unknown_key_message(str(key), prefix, names, where))
    hints = typing.get_type_hints(cls)
    values = {}
    for field in fields:
        key = f"{prefix}{field.name}"
        if field.name not in data:
            if field.default is not dataclasses.MISSING:
                values[field.name] = field.default
                continue
            raise ConfigError(f"{source}: missing key '{key}' ({field.metadata.get('doc', '')})")
        values[field.name] = _convert(hints[field.name], data[field.name], field, key, origins)
    return cls(**values)


def _convert(
    hint: Any, value: Any, field: dataclasses.Field, key: str, origins: Mapping[str, str]
) -> Any:
    """Check ``value`` against the type ``hint`` and the field's rules; return the typed value."""
    meta = field.metadata
    origin = typing.get_origin(hint)
    source = origin_of(origins, key)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, f"{key}.", origins)
    if origin is tuple:  # tuple[Item, ...]
        item_type = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {key} = {value!r}: must be a list")
        if dataclasses.is_dataclass(item_type):  # e.g. midi.mappings: may be empty
            return tuple(
                build(item_type, item, f"{key}[{i}].", origins) for i, item in enumerate(value)
            )
        if not value and item_type is not str:  # lists of names may be empty
            raise ConfigError(f"{source}: {key} = []: must list at least one value")
        return tuple(
            _convert(item_type, item, field, f"{key}[{i}]", origins) for i, item in enumerate(value)
        )
    options = typing.get_args(hint) if origin in (typing.Union, types.UnionType) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{source}: {key} = null: a value is required ({_allowed(meta, hint)})")
    for option in options:
        converted = _as_type(option, value)
        if converted is not None:
            _check_rules(converted, meta, key, source, hint)
            return converted
    raise ConfigError(f"{source}: {key} = {value!r}: wrong type ({_allowed(meta, hint)})")


#: Scientific notation YAML 1.1 leaves as text, e.g. 1e-6 or -2E3.
_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _as_type(option: Any, value: Any) -> Any:
    """``value`` as type ``option`` if it is one (bools are never numbers), else None."""
    if option is bool:
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):
        return None
    if option is int:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return None
    if option is float:
        if isinstance(value, int | float):
            return float(value)
        # YAML 1.1 reads 1e-6 (no dot) as a string; a number is what was meant
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
            return float(value)
        return None
    if option is str:
        return str(value) if isinstance(value, str) else None
    if option is Path:
        if not isinstance(value, str) or not value:
            return None
        resolved = Path(value).expanduser()
        if not resolved.is_absolute():
            resolved = getattr(value, "base_dir", Path.cwd()) / resolved
        return resolved
    return None


def _check_rules(value: Any, meta: Mapping[str, Any], key: str, source: str, hint: Any) -> None:
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        hint_text = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"{source}: {key} = {value!r}: not allowed{hint_text} "
            f"(allowed: {', '.join(map(str, choices))})"
        )
    low, high = meta.get("min"), meta.get("max")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if (
            math.isnan(value)
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            raise ConfigError(f"{source}: {key} = {value!r}: out of range ({_allowed(meta, hint)})")


def _allowed(meta: Mapping[str, Any], hint: Any) -> str:
    parts = []
    names = {int: "an integer", float: "a number", str: "a string", Path: "a file path"}
    options = typing.get_args(hint) or (hint,)
    kinds = [names[o] for o in options if o in names]
    if type(None) in options:
        kinds.append("null")
    if kinds:
        parts.append(" or ".join(kinds))
    if meta.get("choices") is not None:
        parts.append("one of " + ", ".join(map(str, meta["choices"])))
    low, high = meta.get("min"), meta.get("max")
    if low is not None or high is not None:
        low_text = "-inf" if low is None or low == -math.inf else f"{low:g}"
        high_text = "inf" if high is None or high == math.inf else f"{high:g}"
        parts.append(f"from {low_text} to {high_text}")
    return "allowed: " + ", ".join(parts) if parts else str(hint)


# --------------------------------------------------------------------------------------------
# Loading a tree from layered files and overrides


def section_names(root: type) -> list[str]:
    """The section fields of tree class ``root`` (its dataclass-typed fields)."""
    hints = typing.get_type_hints(root)
    return [f.name for f in dataclasses.fields(root) if dataclasses.is_dataclass(hints[f.name])]


def load_tree(
    root: type,
    files: Sequence[Path],
    overrides: Sequence[str] | Mapping[str, Any] = (),
    check_data: Callable[[dict[str, Any], Mapping[str, str]], None] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Read ``files`` (each overlaid on the one before, relative paths resolved against each
    file's folder) and build ``root``'s sections (see :func:`load_tree_data`)."""
    layers = []
    for path in files:
        path = Path(path).expanduser()
        layers.append((with_base_dir(read_yaml(path), path.resolve().parent), str(path)))
    return load_tree_data(root, layers, overrides, check_data)


def load_tree_data(
    root: type,
    layers: Sequence[tuple[dict[str, Any], str]],
    overrides: Sequence[str] | Mapping[str, Any] = (),
    check_data: Callable[[dict[str, Any], Mapping[str, str]], None] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Overlay ``layers`` (``(data, source)``, each on the one before), apply ``overrides``
    (``"section.key=value"`` strings, values parsed as YAML, or a mapping of dotted keys),
    optionally let ``check_data`` inspect the merged raw data, and build ``root``'s sections.

    Returns:
        ``(sections by name, origins)``: ``origins["section.key"]`` is where a value came
        from, ``origins[""]`` the last layer's source.

    Raises:
        ConfigError: one line naming the source, the key, the bad value and what is allowed.
    """
    sections = section_names(root)
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for data, source in layers:
        _check_sections(data, source, sections)
        merged = overlay(merged, data)
        origins.update(origins_of(data, source))
        origins[""] = source
    items = (
        list(overrides.items())
        if isinstance(overrides, Mapping)
        else [parse_override(text) for text in overrides]
    )
    for dotted, value in items:
        _set_dotted(merged, dotted, value, Path.cwd())
        origins[dotted] = "command line"
        origins.setdefault(dotted.split(".")[0], "command line")
    if check_data is not None:
        check_data(merged, origins)
    for name in merged:
        if name not in sections:
            where = origins.get(str(name)) or origin_of(origins, "")
            raise ConfigError(unknown_key_message(str(name), "", sections, where))
    source = origin_of(origins, "")
    hints = typing.get_type_hints(root)
    built = {}
    for name in sections:
        if name not in merged:
            raise ConfigError(f"{source}: missing section '{name}'")
        built[name] = build(hints[name], merged[name], f"{name}.", origins)
    return built, origins


def _check_sections(data: dict[str, Any], source: str, sections: Sequence[str]) -> None:
    for name, section in data.items():
        if isinstance(section, dict) or name not in sections:
            continue
        raise ConfigError(f"{source}: {name}: must be a mapping of keys, got {section!r}")


def _set_dotted(data: dict[str, Any], dotted: str, value: Any, base_dir: Path) -> None:
    parts = dotted.split(".")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(
            f"override {dotted!r}: expected section.key, e.g. audio.blocksize_samples"
        )
    section, key = parts
    if not isinstance(data.get(section, {}), dict):
        raise ConfigError(f"override {dotted!r}: {section} is not a section of keys")
    if isinstance(value, str):
        value = PathValue(value, base_dir)
    data.setdefault(section, {})[key] = value
