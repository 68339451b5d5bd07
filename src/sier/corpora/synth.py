"""A synthetic corpus in the IEMOCAP_full_release layout, for demos and tests.

Speech-like audio from a source-filter model: a sawtooth glottal source with jitter and
aspiration noise, a one-pole spectral tilt, and a cascade of four formant resonators per
syllable, shaped by syllable-like envelopes. Speakers differ in pitch, pitch range, vocal
tract length (formant scale), speaking rate, loudness and voice quality; emotions shift
pitch level and range, loudness, tempo, tilt, jitter and breathiness, by amounts of the
same order as the speaker differences, so speaker normalisation matters. Class proportions
differ by speaker on purpose (a speaker shortcut). Every number is in the tables below and
in docs/synthetic-corpus.md. Output is a pure function of (seed, per_speaker, durations).
"""

from __future__ import annotations

import logging
import os
import shutil
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter, sosfilt

from sier.constants import SAMPLE_RATE
from sier.errors import CorpusError
from sier.fileio import atomic_path, read_json, write_json, write_text

log = logging.getLogger(__name__)

RELEASE_DIR = "IEMOCAP_full_release"
INFO_FILE = "synth.json"  # parameters and counts; also marks a tree this module may overwrite
LABEL_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]"
TURNS_PER_DIALOG = 10
BASE_LEVEL_DB = -28.0  # dBFS RMS of neutral speech of a speaker with level_db 0
NOISE_FLOOR_DB = -62.0  # dBFS RMS of the background noise, so silence is not digital zero


@dataclass(frozen=True)
class SpeakerTraits:
    name: str  # e.g. Ses01F (session + gender)
    f0_hz: float  # median pitch of neutral speech
    range_st: float  # pitch range of neutral speech, semitones (std of syllable targets x 2)
    formant_scale: float  # formants x this; > 1 = shorter vocal tract
    rate_syl_s: float  # syllables per second in neutral speech
    level_db: float  # loudness offset, dB
    tilt: float  # one-pole source low-pass coefficient (0 bright .. 0.9 dark)
    favoured: tuple[str, ...]  # raw labels this speaker over-represents (the shortcut)


@dataclass(frozen=True)
class EmotionEffect:
    f0_ratio: float  # pitch level x this
    range_ratio: float  # pitch range x this
    level_db: float  # loudness, dB added
    tempo_ratio: float  # speaking rate x this
    tilt_shift: float  # added to the speaker's tilt coefficient (negative = brighter)
    jitter: float  # relative std of the pitch period, per 4 ms block
    breath: float  # aspiration noise relative to the voiced source
    vad: tuple[float, float, float]  # valence, activation, dominance written to the label file
    category: str  # the annotators' category name


SPEAKERS: tuple[SpeakerTraits, ...] = (
    SpeakerTraits("Ses01F", 210.0, 5.0, 1.17, 4.4, 0.0, 0.45, ("hap", "exc")),
    SpeakerTraits("Ses01M", 118.0, 4.0, 1.00, 4.8, 2.0, 0.40, ("ang",)),
    SpeakerTraits("Ses02F", 232.0, 6.0, 1.21, 4.0, -3.0, 0.55, ("sad",)),
    SpeakerTraits("Ses02M", 104.0, 3.5, 0.95, 4.2, -1.0, 0.50, ("neu",)),
    SpeakerTraits("Ses03F", 194.0, 5.5, 1.14, 5.0, 3.0, 0.35, ("ang",)),
    SpeakerTraits("Ses03M", 128.0, 4.5, 1.03, 4.6, 0.0, 0.45, ("hap", "exc")),
    SpeakerTraits("Ses04F", 222.0, 4.0, 1.18, 3.8, 1.0, 0.50, ("neu",)),
    SpeakerTraits("Ses04M", 97.0, 4.0, 0.94, 5.2, -2.0, 0.55, ("sad",)),
    SpeakerTraits("Ses05F", 201.0, 6.0, 1.16, 4.6, -1.0, 0.40, ("exc",)),
    SpeakerTraits("Ses05M", 137.0, 5.0, 1.05, 4.0, 1.0, 0.40, ("ang",)),
)

EMOTIONS: dict[str, EmotionEffect] = {
    "neu": EmotionEffect(1.00, 1.00, 0.0, 1.00, 0.00, 0.010, 0.05, (2.5, 2.5, 2.5), "Neutral state"),
    "hap": EmotionEffect(1.16, 1.40, 3.0, 1.08, -0.12, 0.010, 0.05, (4.0, 3.5, 3.0), "Happiness"),
    "exc": EmotionEffect(1.22, 1.50, 4.5, 1.12, -0.15, 0.012, 0.05, (4.0, 4.0, 3.5), "Excited"),
    "ang": EmotionEffect(1.12, 1.20, 7.0, 1.06, -0.30, 0.022, 0.03, (1.5, 4.0, 4.0), "Anger"),
    "sad": EmotionEffect(0.93, 0.60, -4.0, 0.80, 0.20, 0.016, 0.15, (1.5, 2.0, 2.0), "Sadness"),
    "fru": EmotionEffect(1.06, 1.10, 3.0, 1.02, -0.15, 0.016, 0.06, (2.0, 3.0, 3.0), "Frustration"),
    "sur": EmotionEffect(1.30, 1.80, 3.0, 1.00, -0.10, 0.010, 0.05, (3.0, 4.0, 2.5), "Surprise"),
}
# Share of each raw label before a speaker's favoured labels are boosted; "xxx" (no
# majority) sounds like a weak version of a random emotion. fru/sur/xxx are dropped by iemocap-4.
BASE_PROPORTIONS = {"neu": 0.28, "hap": 0.10, "exc": 0.14, "ang": 0.19, "sad": 0.19, "fru": 0.05, "sur": 0.025, "xxx": 0.025}
FAVOURED_BOOST = 2.5  # weight x this for a speaker's favoured labels, then renormalised
INTENSITY = (0.5, 1.3)  # per-utterance emotion strength, uniform; effects scale with it

# F1..F4 (Hz) of six vowels for a scale-1.0 vocal tract, and the formant bandwidths (Hz).
VOWELS = np.array([
    [730, 1090, 2440, 3400], [530, 1840, 2480, 3500], [270, 2290, 3010, 3600],
    [570, 840, 2410, 3300], [300, 870, 2240, 3300], [660, 1720, 2410, 3400],
], dtype=np.float64)
BANDWIDTHS = np.array([80.0, 100.0, 140.0, 200.0])
DIALOG_STEMS = ("impro01", "script01_1", "impro02", "script02_2", "impro05a", "script01_1b",
                "impro03", "script03_1", "impro04", "impro05b", "impro06", "script02_1")


def label_proportions(speaker: SpeakerTraits) -> dict[str, float]:
    """Share of each raw label for `speaker` (sums to 1)."""
    weights = {lab: p * (FAVOURED_BOOST if lab in speaker.favoured else 1.0) for lab, p in BASE_PROPORTIONS.items()}
    total = sum(weights.values())
    return {lab: w / total for lab, w in weights.items()}


def label_counts(per_speaker: int) -> dict[str, dict[str, int]]:
    """speaker -> raw label -> number of utterances (largest remainder; independent of the seed)."""
    counts = {}
    for spk in SPEAKERS:
        shares = label_proportions(spk)
        exact = {lab: share * per_speaker for lab, share in shares.items()}
        c = {lab: int(np.floor(x)) for lab, x in exact.items()}
        for lab in sorted(exact, key=lambda k: (c[k] - exact[k], k))[: per_speaker - sum(c.values())]:
            c[lab] += 1
        counts[spk.name] = c
    return counts


def _sos_formants(formants: np.ndarray, bandwidths: np.ndarray) -> np.ndarray:
    """Second-order sections of a cascade of unity-DC-gain resonators (Klatt 1980)."""
    r = np.exp(-np.pi * bandwidths / SAMPLE_RATE)
    c = 2 * r * np.cos(2 * np.pi * formants / SAMPLE_RATE)
    sos = np.zeros((len(formants), 6))
    sos[:, 0] = 1 - c + r * r
    sos[:, 3], sos[:, 4], sos[:, 5] = 1.0, -c, r * r
    return sos


def _envelope(n: int, rng: np.random.Generator) -> np.ndarray:
    """Syllable amplitude envelope: raised-cosine attack, plateau, longer decay; shape [n]."""
    attack = max(1, int(n * rng.uniform(0.15, 0.3)))
    decay = max(1, int(n * rng.uniform(0.3, 0.45)))
    env = np.ones(n)
    env[:attack] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, attack))
    env[n - decay:] = 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, decay))
    return env


def _voice_params(rng: np.random.Generator, spk: SpeakerTraits, label: str) -> dict[str, float]:
    """Effective prosody of one utterance: speaker traits x emotion effect x intensity x noise."""
    if label == "xxx":  # no agreement among annotators: a weak version of some emotion
        label, k = str(rng.choice(["neu", "hap", "ang", "sad", "fru"])), rng.uniform(0.2, 0.6)
    else:
        k = rng.uniform(*INTENSITY)
    emo, neu = EMOTIONS[label], EMOTIONS["neu"]
    return {
        "f0": spk.f0_hz * emo.f0_ratio**k * np.exp(rng.normal(0, 0.05)),
        "range_st": spk.range_st * emo.range_ratio**k * np.exp(rng.normal(0, 0.12)),
        "rate": spk.rate_syl_s * emo.tempo_ratio**k * np.exp(rng.normal(0, 0.08)),
        "level_db": BASE_LEVEL_DB + spk.level_db + k * emo.level_db + rng.normal(0, 2.0),
        "tilt": float(np.clip(spk.tilt + k * emo.tilt_shift + rng.normal(0, 0.05), 0.0, 0.9)),
        "jitter": neu.jitter + k * (emo.jitter - neu.jitter),
        "breath": neu.breath + k * (emo.breath - neu.breath),
    }


def synthesize_utterance(
    rng: np.random.Generator, spk: SpeakerTraits, label: str, duration_s: tuple[float, float] = (1.0, 3.0)
) -> np.ndarray:
    """One utterance of `spk` speaking with raw `label`: float32 [samples] at SAMPLE_RATE."""
    sr = SAMPLE_RATE
    p = _voice_params(rng, spk, label)
    n_syl = max(2, int(round(rng.uniform(*duration_s) * p["rate"])))
    syl = rng.uniform(0.7, 1.3, n_syl) / p["rate"]  # syllable durations, s
    lead, tail = rng.uniform(0.08, 0.2, 2)
    bounds = np.round((lead + np.concatenate([[0.0], np.cumsum(syl)])) * sr).astype(int)
    n = int(bounds[-1] + tail * sr)
    t = np.arange(n) / sr
    # Pitch: syllable targets (semitones) around a declining line, one or two accents.
    centres = (bounds[:-1] + bounds[1:]) / 2 / sr
    targets = rng.normal(0, p["range_st"] / 4, n_syl) + np.linspace(p["range_st"] / 4, -p["range_st"] / 4, n_syl)
    targets[rng.choice(n_syl, size=min(2, n_syl), replace=False)] += p["range_st"] / 2
    f0 = p["f0"] * 2 ** (np.interp(t, centres, targets) / 12)
    block = int(0.004 * sr)
    f0 *= 1 + p["jitter"] * np.repeat(rng.standard_normal(n // block + 1), block)[:n]
    phase = np.cumsum(f0 / sr) % 1.0
    source = lfilter([1 - p["tilt"]], [1, -p["tilt"]], 2 * phase - 1)
    source += p["breath"] * rng.standard_normal(n) * (phase < 0.5)  # aspiration in the open phase
    out = np.zeros(n)
    for s0, s1 in zip(bounds[:-1], bounds[1:]):
        v0 = s0
        if rng.random() < 0.6:  # onset consonant: a short high-passed noise burst
            v0 = s0 + int((s1 - s0) * rng.uniform(0.15, 0.3))
            burst = np.diff(rng.standard_normal(v0 - s0 + 1)) * _envelope(v0 - s0, rng)
            out[s0:v0] += 0.15 * burst
        formants = VOWELS[rng.integers(len(VOWELS))] * spk.formant_scale * rng.uniform(0.95, 1.05, 4)
        vowel = sosfilt(_sos_formants(formants, BANDWIDTHS * spk.formant_scale), source[v0:s1])
        out[v0:s1] += vowel * _envelope(s1 - v0, rng) * 10 ** (rng.normal(0, 2.0) / 20)
    active = np.abs(out) > 1e-6
    out *= 10 ** (p["level_db"] / 20) / np.sqrt(np.mean(out[active] ** 2))
    out += 10 ** (NOISE_FLOOR_DB / 20) * rng.standard_normal(n)
    peak = np.max(np.abs(out))
    if peak > 0.99:
        out *= 0.99 / peak
    return out.astype(np.float32)


def _annotator_lines(rng: np.random.Generator, label: str) -> tuple[list[str], tuple[float, float, float]]:
    """Per-annotator lines (3 categorical, 3 dimensional) and the mean V/A/D of the summary."""
    if label == "xxx":
        cats = [EMOTIONS[lab].category for lab in rng.choice(list(EMOTIONS), size=3, replace=False)]
        vad0 = EMOTIONS["neu"].vad
    else:
        cats = [EMOTIONS[label].category] * 3
        if rng.random() < 0.4:  # one dissenting rater; the majority still holds
            cats[rng.integers(3)] = EMOTIONS[str(rng.choice([k for k in EMOTIONS if k != label]))].category
        vad0 = EMOTIONS[label].vad
    lines = [f"C-E{i + 1}:\t{cat};\t()" for i, cat in enumerate(cats)]
    scores = np.clip(np.round(np.array(vad0) + rng.normal(0, 0.6, (3, 3))), 1, 5).astype(int)
    lines += [f"A-E{i + 1}:\tval {v}; act {a}; dom  {d};\t()" for i, (v, a, d) in enumerate(scores)]
    return lines, tuple(float(x) for x in scores.mean(axis=0))


def _session_turns(rng: np.random.Generator, session: int, per_speaker: int, counts: dict) -> list[tuple[str, str, str]]:
    """(dialog, gender, raw label) of every turn of a session, in dialog and time order."""
    labels = {}
    for g in "FM":
        seq = [lab for lab, c in counts[f"Ses{session:02d}{g}"].items() for _ in range(c)]
        labels[g] = list(rng.permutation(seq))
    order = list(rng.permutation(["F"] * per_speaker + ["M"] * per_speaker))
    turns = []
    for i, g in enumerate(order):
        d = i // TURNS_PER_DIALOG
        stem = DIALOG_STEMS[d // 2 % len(DIALOG_STEMS)] + ("" if d < 2 * len(DIALOG_STEMS) else f"_{d}")
        dialog = f"Ses{session:02d}{'FM'[d % 2]}_{stem}"
        turns.append((dialog, g, labels[g].pop()))
    return turns


def _write_dialog(
    root: Path, session: int, dialog: str, turns: list[tuple[str, str]], seed: int, duration_s: tuple[float, float]
) -> float:
    """Write the wavs, then the label file, of one dialog; returns the seconds of audio."""
    sess_dir = root / f"Session{session}"
    spk = {s.name: s for s in SPEAKERS}
    rng = np.random.default_rng([seed, session, zlib.crc32(dialog.encode())])
    blocks, clock, total, numbers = [LABEL_HEADER, ""], rng.uniform(2.0, 6.0), 0.0, Counter()
    for gender, label in turns:
        utt_id = f"{dialog}_{gender}{numbers[gender]:03d}"
        numbers[gender] += 1
        audio = synthesize_utterance(rng, spk[f"Ses{session:02d}{gender}"], label, duration_s)
        wav = sess_dir / "sentences" / "wav" / dialog / f"{utt_id}.wav"
        with atomic_path(wav) as tmp:
            sf.write(str(tmp), audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        dur = len(audio) / SAMPLE_RATE
        lines, vad = _annotator_lines(rng, label)
        vad_text = ", ".join(f"{x:.4f}" for x in vad)
        blocks += [f"[{clock:.4f} - {clock + dur:.4f}]\t{utt_id}\t{label}\t[{vad_text}]", *lines, ""]
        clock, total = clock + dur + rng.uniform(0.3, 2.0), total + dur
    write_text(sess_dir / "dialog" / "EmoEvaluation" / f"{dialog}.txt", "\n".join(blocks))
    return total


def synthesize_corpus(
    out_dir: str | os.PathLike,
    seed: int = 0,
    per_speaker: int = 40,
    duration_s: tuple[float, float] = (1.0, 3.0),
) -> Path:
    """Write a synthetic corpus in the IEMOCAP_full_release layout and return its root.

    Args:
        out_dir: folder to write into; the corpus goes to `out_dir/IEMOCAP_full_release`.
            An existing tree there is replaced only if this function wrote it (it has
            `synth.json`); anything else there raises CorpusError.
        seed: the whole output (audio bytes, labels, ids) is a function of seed,
            per_speaker and duration_s.
        per_speaker: utterances per speaker (10 speakers: Ses01F .. Ses05M), including
            the fru/sur/xxx turns that iemocap-4 drops (see `label_counts`).
        duration_s: (min, max) spoken length in seconds, approximate (a whole number of
            syllables), before 0.16-0.4 s of leading/trailing silence.

    Returns:
        The folder holding Session1..Session5, with `SessionN/dialog/EmoEvaluation/<dialog>.txt`
        and 16 kHz mono PCM_16 wavs at `SessionN/sentences/wav/<dialog>/<utterance id>.wav`.
    """
    if per_speaker < 1:
        raise CorpusError(f"per_speaker must be at least 1, got {per_speaker}")
    if not 0.2 <= duration_s[0] <= duration_s[1]:
        raise CorpusError(f"duration_s must be (min, max) with 0.2 <= min <= max, got {duration_s}")
    root = Path(out_dir) / RELEASE_DIR
    clear_synth_tree(root)
    counts = label_counts(per_speaker)
    rng = np.random.default_rng(seed)
    total_s, n_utts = 0.0, 0
    for session in range(1, 6):
        dialogs: dict[str, list[tuple[str, str]]] = {}
        for dialog, gender, label in _session_turns(rng, session, per_speaker, counts):
            dialogs.setdefault(dialog, []).append((gender, label))
        for dialog, turns in dialogs.items():
            total_s += _write_dialog(root, session, dialog, turns, seed, duration_s)
            n_utts += len(turns)
        log.info("synth: session %d written", session)
    info = {"seed": seed, "per_speaker": per_speaker, "duration_s": list(duration_s),
            "utterances": n_utts, "total_duration_s": round(total_s, 3), "label_counts": counts}
    write_json(root / INFO_FILE, info)
    return root


def clear_synth_tree(root: Path) -> None:
    """Remove a tree at `root` that `sier synth` wrote (it has INFO_FILE), so it can be written
    afresh; CorpusError for anything else there."""
    if root.exists():
        if not (root / INFO_FILE).is_file():
            raise CorpusError(f"{root}: exists and was not written by `sier synth`; choose another --out.")
        shutil.rmtree(root)


def read_info(root: str | os.PathLike) -> dict:
    """The parameters and counts `synthesize_corpus` wrote next to the corpus."""
    return read_json(Path(root) / INFO_FILE)
