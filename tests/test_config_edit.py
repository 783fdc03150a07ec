"""Tests for unsing.config_edit: in-place edits of midi.mappings that keep every other byte."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from unsing.config import MidiMapping, load_config
from unsing.config_edit import KEY_ORDER, format_mapping, set_midi_mapping
from unsing.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

VOCAL = (
    "    - {param: vocal_gain, cc: 20, mode: absolute, curve: linear, min_db: -60.0, max_db: 6.0}\n"
)
MASTER = (
    "    - {param: master_gain, cc: 7, mode: absolute, curve: audio_taper, min_db: -60.0, "
    "max_db: 6.0}\n"
)
BYPASS = "    - {param: bypass, cc: 22, mode: toggle}\n"

NEW_VOCAL = {
    "param": "vocal_gain",
    "cc": 30,
    "mode": "absolute",
    "curve": "audio_taper",
    "min_db": -40.0,
    "max_db": 0.0,
    "channel": None,
}
NEW_VOCAL_LINE = (
    "- {param: vocal_gain, cc: 30, mode: absolute, curve: audio_taper, min_db: -40.0, max_db: 0.0}"
)
A_CAPPELLA = {"param": "a_cappella_preset", "note": 36, "mode": "toggle", "channel": 2}
A_CAPPELLA_LINE = "- {param: a_cappella_preset, note: 36, channel: 2, mode: toggle}"


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """A copy of the shipped config.yaml."""
    path = tmp_path / "config.yaml"
    shutil.copyfile(PROJECT_ROOT / "config.yaml", path)
    return path


def write(tmp_path: Path, text: str, name: str = "user.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def as_mapping(mapping: dict[str, Any]) -> MidiMapping:
    return MidiMapping(**{key: value for key, value in mapping.items() if value is not None})


def loaded_mappings(path: Path) -> tuple[MidiMapping, ...]:
    return load_config(str(path)).midi.mappings


def yaml_mappings(path: Path) -> list[dict[str, Any]]:
    return yaml.safe_load(read(path))["midi"]["mappings"]


def without_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


# --------------------------------------------------------------------------------------------
# The shipped config.yaml


def test_replace_keeps_every_other_byte(shipped: Path) -> None:
    original = read(shipped)
    assert VOCAL in original

    description = set_midi_mapping(shipped, NEW_VOCAL)

    assert description == "replaced midi.mappings[0] (vocal_gain)"
    assert read(shipped) == original.replace(VOCAL, f"    {NEW_VOCAL_LINE}\n")
    mappings = loaded_mappings(shipped)
    assert mappings[0] == as_mapping(NEW_VOCAL)
    assert len(mappings) == 4


def test_append_after_the_last_item(shipped: Path) -> None:
    original = read(shipped)

    description = set_midi_mapping(shipped, A_CAPPELLA)

    assert description == "added midi.mappings[4] (a_cappella_preset)"
    assert read(shipped) == original.replace(BYPASS, f"{BYPASS}    {A_CAPPELLA_LINE}\n")
    mappings = loaded_mappings(shipped)
    assert mappings[4] == as_mapping(A_CAPPELLA)
    assert mappings[4].note == 36 and mappings[4].channel == 2 and mappings[4].cc is None


def test_removes_an_item_using_the_same_control(shipped: Path) -> None:
    original = read(shipped)
    mapping = {**NEW_VOCAL, "cc": 7}

    description = set_midi_mapping(shipped, mapping)

    assert description.startswith("replaced midi.mappings[0] (vocal_gain); removed master_gain")
    assert "cc 7" in description
    new_line = "    " + NEW_VOCAL_LINE.replace("cc: 30", "cc: 7") + "\n"
    assert read(shipped) == original.replace(VOCAL, new_line).replace(MASTER, "")
    mappings = loaded_mappings(shipped)
    assert [m.param for m in mappings] == ["vocal_gain", "accompaniment_gain", "bypass"]
    assert mappings[0] == as_mapping(mapping)


def test_added_item_takes_over_a_control(shipped: Path) -> None:
    description = set_midi_mapping(shipped, {"param": "karaoke_preset", "cc": 22, "mode": "toggle"})

    assert description == (
        "added midi.mappings[3] (karaoke_preset); removed bypass (cc 22), which used the same "
        "control"
    )
    mappings = loaded_mappings(shipped)
    assert [m.param for m in mappings] == [
        "vocal_gain",
        "accompaniment_gain",
        "master_gain",
        "karaoke_preset",
    ]
    assert mappings[3] == MidiMapping(param="karaoke_preset", mode="toggle", cc=22)


def test_every_key_in_order(shipped: Path) -> None:
    mapping = {
        "max_db": 6.0,
        "min_db": -60.0,
        "curve": "linear",
        "mode": "absolute",
        "channel": 16,
        "cc_lsb": 52,
        "cc": 20,
        "param": "vocal_gain",
    }
    set_midi_mapping(shipped, mapping)
    line = next(line for line in read(shipped).splitlines() if "vocal_gain, cc" in line)
    assert line == (
        "    - {param: vocal_gain, cc: 20, cc_lsb: 52, channel: 16, mode: absolute, curve: linear, "
        "min_db: -60.0, max_db: 6.0}"
    )
    assert loaded_mappings(shipped)[0] == as_mapping(mapping)


def test_cc_lsb_counts_as_a_control(shipped: Path) -> None:
    # vocal_gain's 14-bit pair takes cc 21, which accompaniment_gain used.
    set_midi_mapping(shipped, {**NEW_VOCAL, "cc": 20, "cc_lsb": 21})
    mappings = loaded_mappings(shipped)
    assert [m.param for m in mappings] == ["vocal_gain", "master_gain", "bypass"]
    assert mappings[0].cc_lsb == 21


def test_channels_decide_conflicts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "midi:\n"
        "  mappings:\n"
        "    - {param: bypass, cc: 40, channel: 1, mode: toggle}\n"
        "    - {param: karaoke_preset, cc: 41, mode: toggle}\n",
    )
    # Another channel: no conflict with bypass on channel 1.
    set_midi_mapping(path, {"param": "a_cappella_preset", "cc": 40, "channel": 2, "mode": "toggle"})
    assert [m["param"] for m in yaml_mappings(path)] == [
        "bypass",
        "karaoke_preset",
        "a_cappella_preset",
    ]
    # No channel means any channel: it conflicts with both items on cc 40.
    description = set_midi_mapping(path, {"param": "karaoke_preset", "cc": 40, "mode": "toggle"})
    assert "removed bypass (cc 40, channel 1); a_cappella_preset (cc 40, channel 2)" in description
    assert yaml_mappings(path) == [{"param": "karaoke_preset", "cc": 40, "mode": "toggle"}]
    # A channelled mapping conflicts with an item that listens on any channel.
    set_midi_mapping(path, {"param": "bypass", "cc": 40, "channel": 5, "mode": "momentary"})
    assert yaml_mappings(path) == [{"param": "bypass", "cc": 40, "channel": 5, "mode": "momentary"}]
    assert loaded_mappings(path) == (
        MidiMapping(param="bypass", mode="momentary", cc=40, channel=5),
    )


def test_notes_and_ccs_are_different_controls(shipped: Path) -> None:
    set_midi_mapping(shipped, {"param": "karaoke_preset", "note": 22, "mode": "toggle"})
    assert len(loaded_mappings(shipped)) == 5


def test_repeated_learning_is_stable(shipped: Path) -> None:
    set_midi_mapping(shipped, A_CAPPELLA)
    once = read(shipped)
    assert set_midi_mapping(shipped, A_CAPPELLA) == "replaced midi.mappings[4] (a_cappella_preset)"
    assert read(shipped) == once


# --------------------------------------------------------------------------------------------
# Layouts


BLOCK = """\
# user config
midi:
  port_pattern: "nanoKONTROL"   # my controller
  mappings:
    # faders
    - param: vocal_gain
      cc: 0
      # a comment inside the item
      mode: absolute
      curve: linear
      min_db: -60.0
      max_db: 6.0

    # the big button
    - param: bypass
      cc: 45
      mode: toggle
    - param: accompaniment_gain
      cc: 1
      mode: absolute
      curve: linear
      min_db: -60.0
      max_db: 6.0
  # after the list
  api: auto
"""


def test_block_style_item_replaced(tmp_path: Path) -> None:
    path = write(tmp_path, BLOCK)
    set_midi_mapping(path, {**NEW_VOCAL, "cc": 0})

    old_item = BLOCK[BLOCK.index("    - param: vocal_gain") : BLOCK.index("\n\n    # the big") + 1]
    new_line = "    " + NEW_VOCAL_LINE.replace("cc: 30", "cc: 0") + "\n"
    assert read(path) == BLOCK.replace(old_item, new_line)
    assert loaded_mappings(path)[0] == as_mapping({**NEW_VOCAL, "cc": 0})


def test_block_style_item_removed_keeping_comments_around_it(tmp_path: Path) -> None:
    path = write(tmp_path, BLOCK)
    description = set_midi_mapping(path, {"param": "karaoke_preset", "cc": 45, "mode": "toggle"})

    assert description.startswith("added midi.mappings[2] (karaoke_preset); removed bypass")
    removed = "    - param: bypass\n      cc: 45\n      mode: toggle\n"
    added = "    - {param: karaoke_preset, cc: 45, mode: toggle}\n"
    expected = BLOCK.replace(removed, "").replace(
        "      max_db: 6.0\n  # after the list", f"      max_db: 6.0\n{added}  # after the list"
    )
    assert read(path) == expected
    assert "    # the big button\n" in read(path)
    assert [m.param for m in loaded_mappings(path)] == [
        "vocal_gain",
        "accompaniment_gain",
        "karaoke_preset",
    ]


def test_items_at_the_key_indentation(tmp_path: Path) -> None:
    text = (
        "midi:\n"
        "  mappings:\n"
        "  - {param: bypass, cc: 22, mode: toggle}\n"
        "  - param: karaoke_preset\n"
        "    cc: 23\n"
        "    mode: toggle\n"
        "  channel: 3\n"
    )
    path = write(tmp_path, text)
    set_midi_mapping(path, {"param": "karaoke_preset", "cc": 24, "mode": "momentary"})
    assert read(path) == text.replace(
        "  - param: karaoke_preset\n    cc: 23\n    mode: toggle\n",
        "  - {param: karaoke_preset, cc: 24, mode: momentary}\n",
    )
    set_midi_mapping(path, A_CAPPELLA)
    assert read(path).endswith(f"momentary}}\n  {A_CAPPELLA_LINE}\n  channel: 3\n")
    assert loaded_mappings(path)[-1] == as_mapping(A_CAPPELLA)


def test_missing_mappings_key(tmp_path: Path) -> None:
    text = (
        "midi:\n"
        "  # comment\n"
        '  port_pattern: ""\n'
        "  channel: null\n"
        "\n"
        "# the engine\n"
        "engine:\n"
        "  master_gain_db: -3.0\n"
    )
    path = write(tmp_path, text)
    assert set_midi_mapping(path, NEW_VOCAL) == "added midi.mappings[0] (vocal_gain)"
    assert read(path) == text.replace(
        "  channel: null\n", f"  channel: null\n  mappings:\n    {NEW_VOCAL_LINE}\n"
    )
    config = load_config(str(path))
    assert config.midi.mappings == (as_mapping(NEW_VOCAL),)
    assert config.engine.master_gain_db == -3.0


def test_empty_flow_list(tmp_path: Path) -> None:
    text = "midi:\n  mappings: []   # none yet\n  api: auto\ntrain:\n  seed: 7\n"
    path = write(tmp_path, text)
    assert set_midi_mapping(path, A_CAPPELLA) == "added midi.mappings[0] (a_cappella_preset)"
    assert read(path) == text.replace(
        "  mappings: []   # none yet\n", f"  mappings: # none yet\n    {A_CAPPELLA_LINE}\n"
    )
    assert loaded_mappings(path) == (as_mapping(A_CAPPELLA),)


def test_null_mappings_with_comments(tmp_path: Path) -> None:
    text = "midi:\n  mappings:\n    # learned mappings go here\n\n  api: auto\n"
    path = write(tmp_path, text)
    set_midi_mapping(path, A_CAPPELLA)
    assert read(path) == text.replace("go here\n", f"go here\n    {A_CAPPELLA_LINE}\n")
    assert loaded_mappings(path) == (as_mapping(A_CAPPELLA),)


def test_non_empty_flow_list_rewritten_as_block(tmp_path: Path) -> None:
    text = (
        "midi:\n"
        "  mappings: [{param: bypass, cc: 22, mode: toggle},\n"
        "             {param: karaoke_preset, cc: 23, mode: toggle}]\n"
        "  api: auto\n"
    )
    path = write(tmp_path, text)
    set_midi_mapping(path, {"param": "karaoke_preset", "cc": 22, "mode": "toggle"})
    assert read(path) == (
        "midi:\n  mappings:\n    - {param: karaoke_preset, cc: 22, mode: toggle}\n  api: auto\n"
    )


def test_missing_midi_section(tmp_path: Path) -> None:
    text = "# mine\nengine:\n  master_gain_db: -6.0  # quieter\n"
    path = write(tmp_path, text)
    assert set_midi_mapping(path, NEW_VOCAL) == "added midi.mappings[0] (vocal_gain)"
    assert read(path) == text + f"\nmidi:\n  mappings:\n    {NEW_VOCAL_LINE}\n"
    config = load_config(str(path))
    assert config.midi.mappings == (as_mapping(NEW_VOCAL),)
    assert config.engine.master_gain_db == -6.0


def test_missing_midi_section_follows_the_files_indentation(tmp_path: Path) -> None:
    text = "engine:\n    master_gain_db: -6.0\n\n"
    path = write(tmp_path, text)
    set_midi_mapping(path, A_CAPPELLA)
    assert read(path) == text + f"midi:\n    mappings:\n        {A_CAPPELLA_LINE}\n"


@pytest.mark.parametrize("text", ["", "# nothing yet\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    set_midi_mapping(path, A_CAPPELLA)
    assert (
        read(path) == text + ("\n" if text else "") + f"midi:\n  mappings:\n    {A_CAPPELLA_LINE}\n"
    )
    assert loaded_mappings(path) == (as_mapping(A_CAPPELLA),)


@pytest.mark.parametrize("value", ["", " {}", " null", " ~"])
def test_empty_midi_section(tmp_path: Path, value: str) -> None:
    text = f"midi:{value}\ntrain:\n  seed: 3\n"
    path = write(tmp_path, text)
    set_midi_mapping(path, A_CAPPELLA)
    assert read(path) == f"midi:\n  mappings:\n    {A_CAPPELLA_LINE}\ntrain:\n  seed: 3\n"
    assert loaded_mappings(path) == (as_mapping(A_CAPPELLA),)


def test_midi_section_followed_by_another_section(shipped: Path) -> None:
    original = read(shipped)
    assert "\n\ntrain:\n" in original[original.index("midi:") :]
    set_midi_mapping(shipped, A_CAPPELLA)
    new = read(shipped)
    assert f"{BYPASS}    {A_CAPPELLA_LINE}\n\ntrain:\n" in new
    assert new.endswith(original[original.index("\ntrain:\n") :])


def test_other_lines_unchanged(shipped: Path) -> None:
    original = read(shipped).splitlines(keepends=True)
    set_midi_mapping(shipped, {**NEW_VOCAL, "cc": 21})  # replaces vocal, removes accompaniment
    new = read(shipped).splitlines(keepends=True)
    changed = [i for i, line in enumerate(original) if "vocal_gain, cc" in line]
    removed = [i for i, line in enumerate(original) if "accompaniment_gain, cc" in line]
    assert len(changed) == len(removed) == 1
    kept = [line for i, line in enumerate(original) if i not in changed + removed]
    assert [line for line in new if "vocal_gain, cc" not in line] == kept
    comments = [line for line in original if line.lstrip().startswith("#")]
    assert comments and all(line in new for line in comments)


def test_crlf_line_endings_kept(tmp_path: Path) -> None:
    text = "# crlf\r\nmidi:\r\n  mappings:\r\n    - {param: bypass, cc: 22, mode: toggle}\r\n"
    path = write(tmp_path, text)
    set_midi_mapping(path, A_CAPPELLA)
    assert read(path) == text + f"    {A_CAPPELLA_LINE}\r\n"
    assert loaded_mappings(path)[-1] == as_mapping(A_CAPPELLA)


def test_missing_final_newline_kept(tmp_path: Path) -> None:
    text = "midi:\n  mappings:\n    - {param: bypass, cc: 22, mode: toggle}"
    path = write(tmp_path, text)
    set_midi_mapping(path, A_CAPPELLA)
    assert read(path) == text + f"\n    {A_CAPPELLA_LINE}"
    text = "engine:\n  master_gain_db: -6.0"
    path = write(tmp_path, text, "other.yaml")
    set_midi_mapping(path, A_CAPPELLA)
    assert read(path) == text + f"\n\nmidi:\n  mappings:\n    {A_CAPPELLA_LINE}"


def test_byte_order_mark_kept(tmp_path: Path) -> None:
    text = "\ufeffmidi:\n  mappings: []\n"
    path = write(tmp_path, text)
    set_midi_mapping(path, A_CAPPELLA)
    assert read(path) == f"\ufeffmidi:\n  mappings:\n    {A_CAPPELLA_LINE}\n"


# --------------------------------------------------------------------------------------------
# Values and errors


def test_values_read_back_with_their_types(tmp_path: Path) -> None:
    path = write(tmp_path, "midi:\n  mappings: []\n")
    mapping = {"param": "vocal_gain", "cc": 20, "mode": "absolute", "curve": "linear"}
    for min_db, max_db in [(-60, 6), (-1e-7, 1e-7), (-math.inf, 12.5), (-100.0, 1e20)]:
        full = {**mapping, "min_db": float(min_db), "max_db": float(max_db)}
        set_midi_mapping(path, full)
        [item] = yaml_mappings(path)
        assert item == without_none(full)
        assert type(item["min_db"]) is float and type(item["max_db"]) is float
        assert type(item["cc"]) is int


@pytest.mark.parametrize(
    "value", ["yes", "null", "1.5", "a b", "a: b", "x, y", "#x", "[x]", "'q'", 'say "hi"', "é"]
)
def test_strings_quoted_when_needed(value: str) -> None:
    text = format_mapping({"param": value, "mode": "toggle"})
    assert yaml.safe_load(text) == {"param": value, "mode": "toggle"}


def test_plain_strings_stay_plain() -> None:
    assert format_mapping({"param": "bypass", "cc": 1, "mode": "toggle", "channel": None}) == (
        "{param: bypass, cc: 1, mode: toggle}"
    )
    assert KEY_ORDER[0] == "param"


def test_unparsable_file(tmp_path: Path) -> None:
    text = "midi:\n  mappings: [\n  api: {\n"
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        set_midi_mapping(path, A_CAPPELLA)
    message = str(info.value)
    assert str(path) in message and "not valid YAML" in message
    assert "\n" not in message
    assert read(path) == text


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        set_midi_mapping(tmp_path / "absent.yaml", A_CAPPELLA)


@pytest.mark.parametrize(
    "text",
    ["- a list\n", "midi: 3\n", "midi:\n  mappings: 5\n", "midi: {port_pattern: x}\n"],
)
def test_unusable_layouts_are_config_errors(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        set_midi_mapping(path, A_CAPPELLA)
    assert str(path) in str(info.value)
    assert read(path) == text


@pytest.mark.parametrize(
    "mapping",
    [{"cc": 3, "mode": "toggle"}, {"param": "bypass", "knob": 3}, {"param": "bypass", "cc": [1]}],
)
def test_bad_mappings_rejected(tmp_path: Path, mapping: dict[str, Any]) -> None:
    path = write(tmp_path, "midi:\n  mappings: []\n")
    with pytest.raises(ValueError):
        set_midi_mapping(path, mapping)
    assert read(path) == "midi:\n  mappings: []\n"


def test_written_atomically_without_leftovers(shipped: Path) -> None:
    shipped.chmod(0o640)
    set_midi_mapping(shipped, A_CAPPELLA)
    assert sorted(p.name for p in shipped.parent.iterdir()) == ["config.yaml"]
    assert shipped.stat().st_mode & 0o777 == 0o640


def test_symlink_target_is_edited(shipped: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.yaml"
    link.symlink_to(shipped)
    set_midi_mapping(link, A_CAPPELLA)
    assert link.is_symlink()
    assert A_CAPPELLA_LINE in read(shipped)
