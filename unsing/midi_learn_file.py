"""Write a learnt MIDI mapping into a YAML config file (``unsing midi learn``).

ruamel.yaml round-trip editing: the file's comments, blank lines, key order, indentation and
flow or block style stay as they were; only ``midi.mappings`` changes. The learnt mapping
replaces every mapping of the same parameter and every mapping on the same control (so one
control never drives two things), else it is appended. A user's file without ``midi.mappings``
inherits the shipped default list, and a list in a file replaces the default one whole: the
defaults are written out with the learnt mapping so that none is lost. The result must load
with :func:`unsing.config.load_config` before it atomically replaces the file.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, CommentToken
from ruamel.yaml.comments import CommentedBase, CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError

from unsing.config import CONFIG_ENV_VAR, default_config_path, load_config
from unsing.errors import ConfigError

#: Keys of a mapping, in the order they are written.
KEY_ORDER = ("param", "cc", "note", "cc_lsb", "channel", "mode", "curve", "min_db", "max_db")


def learn_target(config_path: str | None) -> Path:
    """The file ``midi learn`` writes: ``--config``, else ``$UNSING_CONFIG``, else the shipped
    config.yaml (the same file the rest of the command line reads)."""
    chosen = config_path or os.environ.get(CONFIG_ENV_VAR)
    return Path(chosen).expanduser() if chosen else default_config_path()


def write_midi_mapping(path: Path, mapping: Mapping[str, Any]) -> str:
    """Put ``mapping`` into ``midi.mappings`` of the YAML file at ``path`` (a link: the file it
    points to), then check and atomically replace the file.

    Returns:
        What changed, e.g. ``"replaced midi.mappings[0] (vocal_gain)"``.

    Raises:
        ConfigError: one line; the file cannot be read or written, is not valid YAML, or the
            result would not load (the file is then left as it was).
    """
    path = Path(path)
    real_path = Path(os.path.realpath(path))
    try:
        text = real_path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config file: {error}") from None
    crlf = "\r\n" in text  # edit with \n line ends, write the file's own back
    text = text.replace("\r\n", "\n")
    yaml = _round_trip_yaml(text)
    document = _parse(yaml, text, path)
    new_item = _clean(mapping)
    if document is None:  # empty, or comments only: keep them, add the section after them
        root = CommentedMap()
        description = _edit(root, new_item, inherit=True, path=path)
        new_text = (text if text.endswith("\n") or not text else text + "\n") + _dump(yaml, root)
    else:
        if not isinstance(document, CommentedMap):
            raise ConfigError(f"{path}: the file must be a mapping of sections")
        inherit = real_path != Path(os.path.realpath(default_config_path()))
        description = _edit(document, new_item, inherit, path)
        new_text = _dump(yaml, document)
    _replace_checked(real_path, path, new_text.replace("\n", "\r\n") if crlf else new_text)
    return description


# --------------------------------------------------------------------------------------------
# The edit


def _edit(root: CommentedMap, item: dict[str, Any], inherit: bool, path: Path) -> str:
    """Put ``item`` into ``root``'s ``midi.mappings``; describe the change."""
    midi = root.get("midi")
    if midi is None:
        midi = CommentedMap()
        if "midi" in root:
            root["midi"] = midi
        else:
            _append_key(root, "midi", midi)
    if not isinstance(midi, CommentedMap):
        raise ConfigError(f"{path}: midi: must be a mapping of keys, got {midi!r}")
    mappings = midi.get("mappings")
    inherited = 0
    if mappings is None:
        mappings = CommentedSeq(_default_mappings() if inherit else [])
        inherited = len(mappings)
        if "mappings" in midi:
            midi["mappings"] = mappings
        else:
            _append_key(midi, "mappings", mappings)
    if not isinstance(mappings, CommentedSeq):
        raise ConfigError(f"{path}: midi.mappings: must be a list, got {mappings!r}")
    description, kept = _put(mappings, item, inherited)
    if inherited:
        plural = "s" if kept != 1 else ""
        description += (
            f"; kept the {kept} other default mapping{plural} it inherited (written out: the "
            f"file had no midi.mappings)"
        )
    return description


def _put(items: CommentedSeq, new_item: dict[str, Any], inherited: int) -> tuple[str, int]:
    """Put ``new_item`` in place of the first item of the same param (else of the same
    control) and remove the other such items, or append it. Returns the description and how
    many of the first ``inherited`` items stay."""
    old = list(items)
    if not old and items.lc.line is not None:  # `[]` in the file: a flow list
        items.fa.set_flow_style()
    matches = [i for i, item in enumerate(old) if _conflicts(item, new_item)]
    param = new_item["param"]
    same_param = [i for i in matches if _param(old[i]) == param]
    slot = (same_param or matches or [None])[0]
    node = CommentedMap((key, new_item[key]) for key in new_item)
    if items.fa.flow_style() or not old or _is_flow(old[-1 if slot is None else slot]):
        node.fa.set_flow_style()
    order: list[int | None] = [i for i in range(len(old)) if i == slot or i not in matches]
    if slot is None:
        order.append(None)
    _rebuild(items, [node if i == slot else old[i] for i in order], order)

    verb = "replaced" if same_param else "added"
    description = f"{verb} midi.mappings[{order.index(slot)}] ({param})"
    for i in matches:
        if i == slot and same_param:
            continue
        control = _describe_control(old[i])
        if _param(old[i]) == param:
            description += f"; removed another {param} mapping ({control})"
        else:
            description += f"; removed {_param(old[i])} ({control}), which used the same control"
    return description, len([i for i in order if i is not None and i != slot and i < inherited])


def _rebuild(items: CommentedSeq, new: list[Any], order: list[int | None]) -> None:
    """Make ``items`` hold ``new`` (``order``: the old index each one takes the place of, None
    if appended). Kept items keep their comments; the lines before an old item stay before what
    takes its place; the lines after the list stay after it. (ruamel.yaml keeps the lines
    between two items either on the first one's end-of-line comment or as the second one's
    comments before it.)"""
    old = list(items)
    tails = [_pop_tail(items, i) for i in range(len(items))]
    leads = {i + 1: tail for i, tail in enumerate(tails[:-1])}
    own = {i: items.ca.items.pop(i) for i in list(items.ca.items)}
    del items[:]
    items.extend(new)
    for j, i in enumerate(order):
        if i is not None and i in own:  # a replaced item's comments go, those before it stay
            items.ca.items[j] = own[i] if new[j] is old[i] else [None, own[i][1], None, None]
        if j > 0 and i is not None:
            _add_tail(items, j - 1, leads.get(i, ""))
    if new and tails:
        _add_tail(items, len(new) - 1, tails[-1])


def _conflicts(item: Any, new_item: dict[str, Any]) -> bool:
    """Whether ``item`` maps the same param or shares a control (cc, cc_lsb or note) on an
    overlapping channel (no channel: it listens on midi.channel, maybe any)."""
    if not isinstance(item, Mapping):
        return False
    if item.get("param") == new_item["param"]:
        return True
    channel = item.get("channel")
    if channel is not None and new_item.get("channel") not in (None, channel):
        return False
    return bool(_controls(item) & _controls(new_item))


def _controls(item: Mapping[str, Any]) -> set[tuple[str, Any]]:
    return {
        (kind, item[key])
        for key, kind in (("cc", "cc"), ("cc_lsb", "cc"), ("note", "note"))
        if item.get(key) is not None
    }


def _describe_control(item: Mapping[str, Any]) -> str:
    parts = [f"{key} {item[key]}" for key in ("cc", "note", "cc_lsb") if item.get(key) is not None]
    if item.get("channel") is not None:
        parts.append(f"channel {item['channel']}")
    return ", ".join(parts) or "no control"


def _param(item: Any) -> Any:
    return item.get("param") if isinstance(item, Mapping) else item


def _is_flow(node: Any) -> bool:
    return not isinstance(node, CommentedBase) or bool(node.fa.flow_style())


def _clean(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """``mapping`` in ``KEY_ORDER``, without None values."""
    unknown = [key for key in mapping if key not in KEY_ORDER]
    if unknown or not mapping.get("param"):
        raise ValueError(f"not a MIDI mapping: {dict(mapping)!r}")
    return {key: mapping[key] for key in KEY_ORDER if mapping.get(key) is not None}


def _default_mappings() -> list[CommentedMap]:
    """The shipped config's ``midi.mappings``, one flow-style item each."""
    path = default_config_path()
    document = _parse(YAML(), path.read_text(encoding="utf-8"), path)
    items = []
    for item in (document or {}).get("midi", {}).get("mappings") or []:
        node = CommentedMap(item)
        node.fa.set_flow_style()
        items.append(node)
    return items


# --------------------------------------------------------------------------------------------
# Comments after a node: ruamel.yaml keeps the comments and blank lines that follow a node's last
# line on that line's comment token. When nodes move, those that belong after the list move too.


def _end_slot(container: CommentedBase, key: Any) -> tuple[list[Any], int]:
    """The comment entry and index that follow the last line of ``container[key]``."""
    value = container[key]
    if isinstance(value, CommentedMap | CommentedSeq) and value and not value.fa.flow_style():
        last = next(reversed(value)) if isinstance(value, CommentedMap) else len(value) - 1
        return _end_slot(value, last)
    entry = container.ca.items.setdefault(key, [None, None, None, None])
    return entry, 2 if isinstance(container, CommentedMap) else 0


def _pop_tail(container: CommentedBase, key: Any) -> str:
    """Remove and return the lines that follow ``container[key]``'s last line (its own end of
    line comment stays)."""
    entry, index = _end_slot(container, key)
    token = entry[index]
    if token is None:
        return ""
    own, newline, tail = token.value.partition("\n")
    if own.strip():
        token.value = own + newline
    else:
        entry[index] = None
    return tail


def _add_tail(container: CommentedBase, key: Any, tail: str) -> None:
    """Put ``tail`` (lines) after ``container[key]``'s last line."""
    if not tail:
        return
    entry, index = _end_slot(container, key)
    if entry[index] is None:
        entry[index] = CommentToken("\n" + tail, CommentMark(0), None)
    else:
        entry[index].value += tail


def _append_key(mapping: CommentedMap, key: str, value: Any) -> None:
    """``mapping[key] = value`` as its last key, the lines after the mapping kept after it."""
    tail = _pop_tail(mapping, next(reversed(mapping))) if mapping else ""
    mapping[key] = value
    _add_tail(mapping, key, tail)


# --------------------------------------------------------------------------------------------
# Reading and writing


def _round_trip_yaml(text: str) -> YAML:
    """A round-trip ruamel.yaml set up to write ``text``'s layout back as it was."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line
    mapping, sequence, offset = _indentation(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml


_BLOCK_KEY = re.compile(r"^(\s*)(- +)?[^\s#][^#]*:\s*(#.*)?$")


def _indentation(text: str) -> tuple[int, int, int]:
    """``(mapping, sequence, offset)`` indents as ruamel.yaml counts them, read from the first
    nested block mapping and block sequence of ``text``; default 2, 4, 2 (config.yaml's)."""
    lines = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    mapping = sequence = offset = None
    for line, following in itertools.pairwise(lines):
        match = _BLOCK_KEY.match(line)
        if not match or match.group(2):
            continue
        step = len(following) - len(following.lstrip()) - len(match.group(1))
        dash = re.match(r"\s*(- +)", following)
        if dash and step >= 0 and offset is None:
            offset, sequence = step, step + len(dash.group(1))
        elif not dash and step > 0 and mapping is None:
            mapping = step
    mapping = mapping or 2
    offset = offset if offset is not None else 2
    return mapping, sequence or offset + 2, offset


def _parse(yaml: YAML, text: str, path: Path) -> Any:
    try:
        return yaml.load(text)
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML: {problem}{where}") from None


def _dump(yaml: YAML, document: Any) -> str:
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()


def _replace_checked(real_path: Path, path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``real_path``, load it as the config, then
    rename it over ``real_path``; on any failure the file stays as it was."""
    try:
        mode = real_path.stat().st_mode & 0o7777
        fd, temp_name = tempfile.mkstemp(
            dir=real_path.parent, prefix=f".{real_path.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise ConfigError(f"{path}: cannot write config file: {error}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp_name, mode)
        try:
            load_config(temp_name)
        except ConfigError as error:
            message = str(error).replace(temp_name, str(path))
            raise ConfigError(f"the learned mapping was not kept: {message}") from None
        os.replace(temp_name, real_path)
    except OSError as error:
        raise ConfigError(f"{path}: cannot write config file: {error}") from None
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
