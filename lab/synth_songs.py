"""Synthetic multitrack songs with true stems, for issue 31's data lever (not installed).

Each song is one Bach chorale from music21's corpus, arranged as a small pop song: the soprano
line sung by Sinsy (pysinsy's bundled HTS voice, random Japanese syllables as lyrics), the alto,
tenor and bass lines rendered by FluidSynth (FluidR3 GM) on instruments drawn per song (keys,
guitars, strings, pads, brass; a bass instrument an octave down), a drum pattern at the song's
tempo in most songs, and in some the melody doubled quietly on an instrument, as arrangements
do. The voice gets a produced chain (high-pass, compressor, reverb; pedalboard) and its wet
signal counts as vocals, as in MUSDB18. Both stems share key, tempo and harmony: the coherence
random mixes lack.

``--voices varied`` (synth-songs-v2) makes more voices of Sinsy's one: syllables on all five
vowels, the formants moved per song by varispeed (the melody sung k semitones up at 2 ** (k / 12)
times the tempo, then slowed to the written pitch and tempo: formants k semitones lower), and a
share of the melodies sung an octave down with formants 2-3 semitones lower, as a male voice.

Output: the teacher-labels folder layout that ``train.teacher_labels`` reads (``labels.json``,
``vocals/NAME.flac``, ``accompaniment/NAME.flac``, 44.1 kHz stereo), so the songs train as
real pairs (group ``teacher``) without a change to ``models/``.

Runs in its own environment (measured with pysinsy 0.0.5, music21 10.5.1, pretty_midi 0.2.11,
pedalboard 0.9.26; FluidSynth 2.3.1, fluid-soundfont-gm 3.1), about 2 s a song on one core:
    apt-get install fluidsynth fluid-soundfont-gm
    python3 -m venv /work/synthvenv
    /work/synthvenv/bin/pip install pysinsy music21 pretty_midi pedalboard soxr soundfile
    /work/synthvenv/bin/python lab/synth_songs.py --out /work/synth-songs --songs 200 --seed 7
    /work/synthvenv/bin/python lab/synth_songs.py --out /work/synth-songs-v2 --songs 351 \
        --seed 8 --voices varied
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pedalboard
import pretty_midi
import pysinsy
import soundfile
import soxr
from music21 import corpus, expressions, note, stream, tempo

RATE_HZ = 44100
#: Quarters of rest before and after the melody (Sinsy wants a score to start and end on a rest);
#: the accompaniment starts as late.
LEAD_QUARTERS = 2.0
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
#: Japanese syllables Sinsy sings; one per note.
SYLLABLES = list("らるろなのまもあおうかこさそたとはほやよわ")
#: ``--voices varied``: syllables on all five vowels.
SYLLABLES_ALL_VOWELS = SYLLABLES + list("いえきけしせちてにねひへみめりれ")
#: ``--voices varied``: the share of songs whose melody is sung an octave down with formants
#: 2 or 3 semitones lower (a vocal tract 12-19 % longer: a male voice from the one female
#: model); the other voices' formants move by -2 to +2 semitones. Whole semitones, so that the
#: varispeeded voice stays in tune with the accompaniment.
LOW_VOICE_SHARE = 0.35
LOW_VOICE_FORMANT_SEMITONES = [2, 3]
FORMANT_SEMITONES = [-2, -1, 0, 1, 2]
#: General MIDI programs (0-based) for the inner lines: pianos 0-1, electric pianos 4-5, organs
#: 16-19, guitars 24-29, strings 48-50, the "choir aahs" pad 52, brass 61, synth leads 80-81,
#: synth pads 88-95; then for the bass line and for the melody's quiet doubling.
INNER_PROGRAMS = [0, 1, 4, 5, 16, 17, 19, 24, 25, 26, 27, 29]
INNER_PROGRAMS += [48, 49, 50, 52, 61, 80, 81, 88, 89, 90, 95]
BASS_PROGRAMS = [32, 33, 34, 35, 38, 39]
MELODY_PROGRAMS = [0, 4, 24, 40, 56, 65, 73, 80]


def singable_melody(
    part: stream.Part,
    bpm: float,
    shift: int,
    rng: np.random.Generator,
    syllables: list[str] = SYLLABLES,
) -> stream.Score:
    """The soprano ``part`` transposed by ``shift`` semitones at ``bpm``, one syllable per note."""
    melody = part.flatten().notesAndRests.stream()
    out = stream.Part()
    out.insert(0, tempo.MetronomeMark(number=bpm))
    out.insert(0, note.Rest(quarterLength=LEAD_QUARTERS))
    end = LEAD_QUARTERS
    for element in melody:
        if isinstance(element, note.Note):
            sung = note.Note(element.pitch.transpose(shift), quarterLength=element.quarterLength)
            if element.tie is not None and element.tie.type in ("stop", "continue"):
                sung.tie = element.tie
            else:
                sung.lyric = str(rng.choice(syllables))
                if element.tie is not None:
                    sung.tie = element.tie
            out.insert(LEAD_QUARTERS + element.offset, sung)
        elif isinstance(element, note.Rest):
            out.insert(
                LEAD_QUARTERS + element.offset, note.Rest(quarterLength=element.quarterLength)
            )
        end = max(end, LEAD_QUARTERS + element.offset + element.quarterLength)
    out.insert(end, note.Rest(quarterLength=LEAD_QUARTERS))
    score = stream.Score([out])
    return score.makeNotation()


def sing(melody: stream.Score, folder: Path, speed: float = 1.0) -> np.ndarray:
    """Sinsy's rendering of ``melody``: mono float32 at ``RATE_HZ``, slowed by ``speed``.

    A melody written ``k`` semitones up at ``speed`` = 2 ** (k / 12) times the tempo comes out at
    the written pitch and tempo with its formants ``k`` semitones lower (varispeed).
    """
    path = folder / "melody.xml"
    melody.write("musicxml", fp=str(path))
    synth = pysinsy.sinsy.Sinsy()
    synth.setLanguages("j", pysinsy.get_default_dic_dir())
    synth.loadVoices(pysinsy.get_default_htsvoice())
    synth.loadScoreFromMusicXML(str(path))
    wave, rate = synth.synthesize()
    synth.clearScore()
    samples = np.asarray(wave, dtype=np.float64) / 32768.0
    return soxr.resample(samples, rate / speed, RATE_HZ).astype(np.float32)


def line_notes(
    part: stream.Part, seconds_per_quarter: float, shift: int
) -> list[tuple[int, float, float]]:
    """(MIDI pitch, start s, end s) of every note of ``part``, ties joined."""
    notes = []
    for element in part.flatten().stripTies().notes:
        for pitch in element.pitches:
            start = (LEAD_QUARTERS + float(element.offset)) * seconds_per_quarter
            notes.append(
                (
                    pitch.midi + shift,
                    start,
                    start + float(element.quarterLength) * seconds_per_quarter,
                )
            )
    return notes


def drum_pattern(
    seconds: float, seconds_per_quarter: float, rng: np.random.Generator
) -> pretty_midi.Instrument:
    """A pop beat: kick on 1 and 3 (sometimes the and of 3), snare on 2 and 4, eighth hats."""
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    hat = int(rng.choice([42, 44, 51]))
    busy = rng.random() < 0.5
    beat, index = 0.0, 0
    while beat < seconds:
        bar_beat = index % 4
        if bar_beat in (0, 2):
            drums.notes.append(pretty_midi.Note(int(rng.integers(90, 118)), 36, beat, beat + 0.1))
        if bar_beat in (1, 3):
            drums.notes.append(
                pretty_midi.Note(
                    int(rng.integers(85, 115)), int(rng.choice([38, 40])), beat, beat + 0.1
                )
            )
        if busy and bar_beat == 2:
            off = beat + seconds_per_quarter / 2
            drums.notes.append(pretty_midi.Note(int(rng.integers(70, 100)), 36, off, off + 0.1))
        for eighth in (0.0, 0.5):
            at = beat + eighth * seconds_per_quarter
            drums.notes.append(pretty_midi.Note(int(rng.integers(50, 90)), hat, at, at + 0.05))
        beat += seconds_per_quarter
        index += 1
    return drums


def arrangement(
    parts: list[stream.Part], bpm: float, shift: int, rng: np.random.Generator
) -> pretty_midi.PrettyMIDI:
    """The accompaniment: inner lines and bass on drawn instruments, drums, maybe the melody."""
    spq = 60.0 / bpm
    midi = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    inner = rng.choice(INNER_PROGRAMS, size=len(parts) - 2, replace=True)
    lines = [
        (part, int(program), 0, int(rng.integers(60, 95)))
        for part, program in zip(parts[1:-1], inner, strict=True)
    ]
    lines.append(
        (
            parts[-1],
            int(rng.choice(BASS_PROGRAMS)),
            -12 if rng.random() < 0.7 else 0,
            int(rng.integers(80, 110)),
        )
    )
    if rng.random() < 0.3:
        lines.append((parts[0], int(rng.choice(MELODY_PROGRAMS)), 0, int(rng.integers(35, 60))))
    end = 0.0
    for part, program, octave, velocity in lines:
        instrument = pretty_midi.Instrument(program=program)
        for pitch, start, stop in line_notes(part, spq, shift + octave):
            instrument.notes.append(
                pretty_midi.Note(velocity, int(np.clip(pitch, 0, 127)), start, stop)
            )
            end = max(end, stop)
        midi.instruments.append(instrument)
    if rng.random() < 0.75:
        midi.instruments.append(drum_pattern(end, spq, rng))
    return midi


def render(midi: pretty_midi.PrettyMIDI, folder: Path) -> np.ndarray:
    """FluidSynth's stereo rendering of ``midi`` at ``RATE_HZ``: (2, samples) float32."""
    mid, wav = folder / "accompaniment.mid", folder / "accompaniment.wav"
    midi.write(str(mid))
    subprocess.run(
        [
            "fluidsynth",
            "-ni",
            "-q",
            "-g",
            "0.5",
            "-o",
            "audio.file.format=float",
            "-r",
            str(RATE_HZ),
            "-F",
            str(wav),
            SOUNDFONT,
            str(mid),
        ],
        check=True,
        capture_output=True,
    )
    audio, rate = soundfile.read(wav, dtype="float32", always_2d=True)
    assert rate == RATE_HZ
    return audio.T


def produce_voice(voice: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The dry mono voice through a vocal chain, panned near the centre: (2, samples)."""
    chain = pedalboard.Pedalboard(
        [
            pedalboard.HighpassFilter(cutoff_frequency_hz=float(rng.uniform(80, 150))),
            pedalboard.Compressor(
                threshold_db=float(rng.uniform(-24, -12)),
                ratio=float(rng.uniform(2, 5)),
                attack_ms=float(rng.uniform(2, 15)),
                release_ms=float(rng.uniform(60, 200)),
            ),
            pedalboard.Reverb(
                room_size=float(rng.uniform(0.2, 0.8)),
                wet_level=float(rng.uniform(0.05, 0.3)),
                dry_level=0.8,
                width=float(rng.uniform(0.5, 1.0)),
            ),
        ]
    )
    stereo = np.stack([voice, voice])
    pan = float(rng.uniform(-0.1, 0.1))
    stereo[0] *= np.sqrt(0.5 - pan / 2) * np.sqrt(2)
    stereo[1] *= np.sqrt(0.5 + pan / 2) * np.sqrt(2)
    return chain(stereo, RATE_HZ).astype(np.float32)


def make_song(
    score: stream.Score, rng: np.random.Generator, varied: bool = False
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(vocals, accompaniment) of one chorale, (2, samples) each, the vocals at a drawn level,
    and the voice's octave and formant shift (semitones).

    ``varied``: syllables on all vowels, and the voice's formants (and octave) drawn per song.
    """
    parts = list(score.parts)
    bpm = float(rng.uniform(70, 130))
    shift = int(rng.integers(-4, 3))
    octave, formant_semitones, syllables = 0, 0, SYLLABLES
    if varied:
        syllables = SYLLABLES_ALL_VOWELS
        if rng.random() < LOW_VOICE_SHARE:
            octave = -12
            formant_semitones = int(rng.choice(LOW_VOICE_FORMANT_SEMITONES))
        else:
            formant_semitones = int(rng.choice(FORMANT_SEMITONES))
    speed = 2.0 ** (formant_semitones / 12)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        melody = singable_melody(
            parts[0], bpm * speed, shift + octave + formant_semitones, rng, syllables
        )
        voice = sing(melody, folder, speed)
        accompaniment = render(arrangement(parts, bpm, shift, rng), folder)
    vocals = produce_voice(voice, rng)
    samples = min(vocals.shape[1], accompaniment.shape[1])
    vocals, accompaniment = vocals[:, :samples], accompaniment[:, :samples]
    level_db = float(rng.uniform(-6, 3))
    rms_v = np.sqrt(np.mean(vocals**2)) + 1e-9
    rms_a = np.sqrt(np.mean(accompaniment**2)) + 1e-9
    vocals = vocals * (rms_a / rms_v) * 10 ** (level_db / 20)
    peak = max(np.abs(vocals + accompaniment).max(), 1e-9)
    scale = min(1.0, 0.9 / peak)
    voice_drawn = {"octave_semitones": octave, "formant_semitones": -formant_semitones}
    return vocals * scale, accompaniment * scale, voice_drawn


def chorales(limit: int) -> list[tuple[str, stream.Score]]:
    """Up to ``limit`` four-part chorales of the corpus, in Riemenschneider order, with a name
    (``chorale001-TITLE``; the title is left out where the score has text expressions)."""
    found = []
    for score in corpus.chorales.Iterator(numberingSystem="riemenschneider", returnType="stream"):
        if len(score.parts) != 4:
            continue
        texts = score.flatten().getElementsByClass(expressions.TextExpression)
        title = "" if texts else f"-{score.metadata.title or ''}"
        found.append((f"chorale{len(found) + 1:03d}{title}", score))
        if len(found) >= limit:
            break
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--songs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--voices",
        choices=["one", "varied"],
        default="one",
        help="one: Sinsy's voice as it is (synth-songs-v1); varied: all five vowels, formants "
        "moved per song, and a share sung an octave down with lower formants",
    )
    args = parser.parse_args()
    (args.out / "vocals").mkdir(parents=True, exist_ok=True)
    (args.out / "accompaniment").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    songs = {}
    for index, (title, score) in enumerate(chorales(args.songs)):
        name = f"song{index:03d}"
        try:
            vocals, accompaniment, voice = make_song(score, rng, args.voices == "varied")
        except Exception as error:  # a score Sinsy or music21 cannot take: skip it
            print(f"{name}: skipped ({error!r})", flush=True)
            continue
        soundfile.write(args.out / "vocals" / f"{name}.flac", vocals.T, RATE_HZ)
        soundfile.write(args.out / "accompaniment" / f"{name}.flac", accompaniment.T, RATE_HZ)
        songs[name] = {
            "licence": "generated (Bach chorale, music21 corpus; pysinsy; FluidR3 GM)",
            "source": title,
            "seconds": round(vocals.shape[1] / RATE_HZ, 1),
            **voice,
        }
        print(f"{name}: {songs[name]['seconds']} s", flush=True)
        (args.out / "labels.json").write_text(
            json.dumps(
                {
                    "teacher": f"synthetic songs (lab/synth_songs.py, seed {args.seed}, "
                    f"voices {args.voices})",
                    "songs": songs,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
