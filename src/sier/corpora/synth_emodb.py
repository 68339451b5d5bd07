"""A synthetic corpus in EmoDB's layout: ten new speakers, for cross-corpus demos and tests.

The same source-filter speech and emotion effects as the IEMOCAP-layout synthetic corpus
(sier.corpora.synth), spoken by ten other speakers (EmoDB's speaker numbers and genders,
their own pitch, vocal tract, rate, loudness and voice quality), in the four emotions that
EmoDB shares with iemocap-4 (W anger, F happiness, T sadness, N neutral) and in balanced
numbers. A model trained on the IEMOCAP-layout corpus meets new voices here, as a model
trained on IEMOCAP meets new voices (and a new language) on EmoDB. Output is a pure
function of (seed, per_emotion, durations).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import soundfile as sf

from sier.constants import SAMPLE_RATE
from sier.corpora.synth import INFO_FILE, SpeakerTraits, clear_synth_tree, synthesize_utterance
from sier.errors import CorpusError
from sier.fileio import atomic_path, write_json

CORPUS_DIR = "emodb"
LETTERS = {"ang": "W", "hap": "F", "sad": "T", "neu": "N"}  # EmoDB's emotion letters
TEXTS = ("a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10")  # EmoDB's ten sentences
VERSIONS = "abcdefghijklmnopqrstuvwxyz"

# EmoDB's speakers and genders; the voices are new (none equals a speaker of the
# IEMOCAP-layout corpus), with no favoured emotions.
SPEAKERS: tuple[SpeakerTraits, ...] = (
    SpeakerTraits("03", 112.0, 4.5, 0.98, 4.5, 1.0, 0.45, ()),
    SpeakerTraits("08", 215.0, 5.5, 1.19, 4.2, -2.0, 0.50, ()),
    SpeakerTraits("09", 238.0, 5.0, 1.23, 4.9, 2.0, 0.40, ()),
    SpeakerTraits("10", 123.0, 3.8, 1.01, 4.1, -1.5, 0.52, ()),
    SpeakerTraits("11", 132.0, 5.2, 1.04, 5.1, 0.5, 0.38, ()),
    SpeakerTraits("12", 101.0, 4.2, 0.93, 4.4, 2.5, 0.48, ()),
    SpeakerTraits("13", 205.0, 4.5, 1.15, 4.7, 0.0, 0.42, ()),
    SpeakerTraits("14", 226.0, 6.5, 1.20, 3.9, -1.0, 0.47, ()),
    SpeakerTraits("15", 141.0, 4.8, 1.06, 4.3, -2.5, 0.44, ()),
    SpeakerTraits("16", 197.0, 5.8, 1.13, 4.5, 1.5, 0.53, ()),
)


def file_name(speaker: str, label: str, k: int) -> str:
    """EmoDB's naming: speaker, text, emotion letter, version (`03a01Wa`) for the k-th take."""
    return f"{speaker}{TEXTS[k % len(TEXTS)]}{LETTERS[label]}{VERSIONS[k // len(TEXTS)]}"


def synthesize_emodb(out_dir: str | Path, seed: int = 0, per_emotion: int = 5,
                     duration_s: tuple[float, float] = (1.0, 3.0)) -> Path:
    """Write `out_dir/emodb/wav/*.wav` (10 speakers x 4 emotions x `per_emotion`, 16 kHz PCM_16)
    and `emodb/synth.json`; return `out_dir/emodb`. A tree there is replaced only if this
    function wrote it."""
    if not 1 <= per_emotion <= len(TEXTS) * len(VERSIONS):
        raise CorpusError(f"per_emotion must be in 1..{len(TEXTS) * len(VERSIONS)}, got {per_emotion}")
    root = Path(out_dir) / CORPUS_DIR
    clear_synth_tree(root)
    total = 0.0
    for spk in SPEAKERS:
        for label in LETTERS:
            rng = np.random.default_rng([seed, zlib.crc32(f"emodb{spk.name}{label}".encode())])
            for k in range(per_emotion):
                audio = synthesize_utterance(rng, spk, label, duration_s)
                with atomic_path(root / "wav" / f"{file_name(spk.name, label, k)}.wav") as tmp:
                    sf.write(str(tmp), audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
                total += len(audio) / SAMPLE_RATE
    write_json(root / INFO_FILE, {"layout": "emodb", "seed": seed, "per_emotion": per_emotion,
                                  "duration_s": list(duration_s), "utterances": len(SPEAKERS) * len(LETTERS) * per_emotion,
                                  "total_duration_s": round(total, 3)})
    return root
