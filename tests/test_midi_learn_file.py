"""``midi learn`` writes into a config file: one mapping added or replaced, the rest kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from unsing.config import CONFIG_ENV_VAR, MidiMapping, default_config_path, load_config
from unsing.errors import ConfigError
from unsing.midi_learn_file import learn_target, write_midi_mapping

VOCAL = {
    "param": "vocal_gain",
    "cc": 3,
    "cc_lsb": 35,
    "channel": 5,
    "mode": "absolute",
    "curve": "linear",
    "min_db": -60.0,
    "max_db": 6.0,
}
VOCAL_LINE = (
    "    - {param: vocal_gain, cc: 3, cc_lsb: 35, channel: 5, mode: absolute, curve: linear, "
    "min_db: -60.0, max_db: 6.0}\n"
)
KARAOKE_ON_22 = {"param": "karaoke_preset", "cc": 22, "mode": "toggle"}

#: A user's file with comments, blank lines and other sections around its mappings.
COMMENTED = (
    "# my rig\n"
    "midi:\n"
    "  api: auto  # RtMidi picks\n"
    "  mappings:  # my controller\n"
    "    # the big fader\n"
    "    - {param: vocal_gain, cc: 20, mode: absolute, curve: linear, min_db: -60.0, max_db: 6.0}\n"
    "\n"
    "    # the red button\n"
    "    - {param: bypass, cc: 22, mode: toggle}\n"
    "\n"
    "# start-up gains\n"
    "engine:\n"
    "  accompaniment_gain_db: -3.0  # a bit quieter\n"
)
OLD_VOCAL_LINE = (
    "    - {param: vocal_gain, cc: 20, mode: absolute, curve: linear, min_db: -60.0, max_db: 6.0}\n"
)


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch) -> None:
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)


def mappings(path: Path) -> list[MidiMapping]:
    return list(load_config(str(path)).midi.mappings)


def learnt(path: Path, param: str) -> list[MidiMapping]:
    return [m for m in mappings(path) if m.param == param]


def test_comments_and_blank_lines_survive_byte_for_byte(write_config) -> None:
    path = write_config(COMMENTED)
    assert write_midi_mapping(path, VOCAL) == "replaced midi.mappings[0] (vocal_gain)"
    assert path.read_text(encoding="utf-8") == COMMENTED.replace(OLD_VOCAL_LINE, VOCAL_LINE)


def test_the_learnt_mapping_loads(write_config) -> None:
    path = write_config(COMMENTED)
    write_midi_mapping(
        path, {"param": "a_cappella_preset", "note": 36, "channel": 2, "mode": "toggle"}
    )
    assert mappings(path)[-1] == MidiMapping(
        param="a_cappella_preset", mode="toggle", note=36, channel=2
    )
    assert [m.param for m in mappings(path)] == ["vocal_gain", "bypass", "a_cappella_preset"]
    text = path.read_text(encoding="utf-8")
    assert "    - {param: bypass, cc: 22, mode: toggle}\n    - {param: a_cappella" in text
    assert text.endswith(
        "\n\n# start-up gains\nengine:\n  accompaniment_gain_db: -3.0  # a bit quieter\n"
    )


def test_a_small_overlay_keeps_the_default_mappings_it_inherits(write_config) -> None:
    defaults = list(load_config().midi.mappings)
    head = "# my rig\nmidi:\n  channel: null  # any\n"
    path = write_config(head + "\n# start-up gains\nengine:\n  master_gain_db: -6.0\n")

    change = write_midi_mapping(path, VOCAL)
    assert change.startswith("replaced midi.mappings[0] (vocal_gain); kept the 3 other default")
    text = path.read_text(encoding="utf-8")
    assert text.startswith(head + "  mappings:\n" + VOCAL_LINE)
    assert text.endswith("\n\n# start-up gains\nengine:\n  master_gain_db: -6.0\n")
    loaded = mappings(path)
    assert [m.param for m in loaded] == [m.param for m in defaults]
    assert [m for m in loaded if m.param != "vocal_gain"] == [
        m for m in defaults if m.param != "vocal_gain"
    ]

    write_midi_mapping(path, {**VOCAL, "cc": 9, "cc_lsb": None})  # the same param again
    assert len(mappings(path)) == len(defaults)
    assert [(m.cc, m.cc_lsb) for m in learnt(path, "vocal_gain")] == [(9, None)]


@pytest.mark.parametrize("eol", ["", "  # fader 1"], ids=["plain", "end-of-line-comment"])
def test_a_control_in_use_moves_to_the_new_param(write_config, eol: str) -> None:
    text = COMMENTED.replace(OLD_VOCAL_LINE, OLD_VOCAL_LINE[:-1] + eol + "\n")
    path = write_config(text)
    change = write_midi_mapping(path, KARAOKE_ON_22)
    assert change == (
        "added midi.mappings[1] (karaoke_preset); removed bypass (cc 22), which used the same "
        "control"
    )
    assert [(m.param, m.cc) for m in mappings(path)] == [("vocal_gain", 20), ("karaoke_preset", 22)]
    assert path.read_text(encoding="utf-8") == text.replace(
        "    - {param: bypass, cc: 22, mode: toggle}\n",
        "    - {param: karaoke_preset, cc: 22, mode: toggle}\n",
    )


def test_a_control_on_another_channel_is_another_control(write_config) -> None:
    path = write_config(
        "midi:\n  mappings:\n    - {param: bypass, cc: 22, channel: 1, mode: toggle}\n"
    )
    write_midi_mapping(path, {**KARAOKE_ON_22, "channel": 2})
    assert [(m.param, m.channel) for m in mappings(path)] == [("bypass", 1), ("karaoke_preset", 2)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "midi:\n  mappings: [{param: bypass, cc: 22, mode: toggle}]\n",
            "midi:\n  mappings: [{param: bypass, cc: 22, mode: toggle}, {param: vocal_gain, cc: 3, "
            "cc_lsb: 35, channel: 5, mode: absolute, curve: linear, min_db: -60.0, max_db: 6.0}]\n",
        ),
        (
            "midi:\n  mappings:\n  - param: bypass  # button\n    cc: 22\n    mode: toggle\n",
            "midi:\n  mappings:\n  - param: bypass  # button\n    cc: 22\n    mode: toggle\n"
            "  - param: vocal_gain\n    cc: 3\n    cc_lsb: 35\n    channel: 5\n    mode: absolute\n"
            "    curve: linear\n    min_db: -60.0\n    max_db: 6.0\n",
        ),
    ],
    ids=["flow", "block"],
)
def test_flow_and_block_lists_keep_their_style(write_config, text: str, expected: str) -> None:
    path = write_config(text)
    assert write_midi_mapping(path, VOCAL) == "added midi.mappings[1] (vocal_gain)"
    assert path.read_text(encoding="utf-8") == expected
    assert [m.param for m in mappings(path)] == ["bypass", "vocal_gain"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("midi:\n  mappings: [{param: bypass\n", "not valid YAML"),
        ("midi:\n  mappings: 3\n", "midi.mappings: must be a list"),
        ("midi: [1, 2]\n", "midi: must be a mapping"),
        ("engine:\n  master_gain_db: 99.0\n", "the learned mapping was not kept"),
    ],
    ids=["yaml", "not-a-list", "not-a-mapping", "invalid-result"],
)
def test_a_bad_file_is_a_one_line_error_and_stays_as_it_was(
    write_config, text: str, message: str
) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError) as caught:
        write_midi_mapping(path, VOCAL)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert path.read_text(encoding="utf-8") == text
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_the_write_is_atomic(write_config, monkeypatch) -> None:
    path = write_config(COMMENTED)
    os.chmod(path, 0o640)
    link = path.with_name("link.yaml")
    link.symlink_to(path.name)

    def interrupted(source: str, destination: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(ConfigError, match="cannot write config file: disk full"):
        write_midi_mapping(link, VOCAL)
    assert path.read_text(encoding="utf-8") == COMMENTED
    monkeypatch.undo()

    write_midi_mapping(link, VOCAL)  # through the link: the file it points to is replaced
    assert link.is_symlink() and learnt(path, "vocal_gain")[0].cc == 3
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in path.parent.iterdir()) == ["link.yaml", path.name]


def test_learn_writes_the_file_the_command_line_reads(monkeypatch, tmp_path) -> None:
    assert learn_target(None) == default_config_path()
    assert learn_target("mine.yaml") == Path("mine.yaml")
    monkeypatch.setenv(CONFIG_ENV_VAR, str(tmp_path / "env.yaml"))
    assert learn_target(None) == tmp_path / "env.yaml"


def test_a_comments_only_file_gets_a_midi_section_after_its_comments(write_config) -> None:
    path = write_config("# nothing here yet\n")
    write_midi_mapping(path, VOCAL)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# nothing here yet\nmidi:\n  mappings:\n" + VOCAL_LINE)
    assert len(mappings(path)) == len(load_config().midi.mappings)


def test_windows_line_ends_are_kept(tmp_path) -> None:
    path = tmp_path / "user.yaml"
    path.write_bytes(b"midi:\r\n  mappings: []  # none yet\r\n\r\n# end\r\n")
    write_midi_mapping(path, KARAOKE_ON_22)
    assert path.read_bytes() == (
        b"midi:\r\n  mappings: [{param: karaoke_preset, cc: 22, mode: toggle}] # none yet\r\n"
        b"\r\n# end\r\n"
    )
