"""The corpora sier reads, by name: one reader per layout, each with its default label map."""

from __future__ import annotations

import os
from functools import partial
from typing import Callable, Sequence

from sier.corpora.ased import read_ased
from sier.corpora.cafe import read_cafe
from sier.corpora.cremad import read_cremad
from sier.corpora.emodb import read_emodb
from sier.corpora.emovo import read_emovo
from sier.corpora.emozionalmente import read_emozionalmente
from sier.corpora.esd import language as esd_language
from sier.corpora.esd import read_esd
from sier.corpora.eyase import read_eyase
from sier.corpora.iemocap import read_iemocap
from sier.corpora.jl import read_jl
from sier.corpora.labels import DEFAULT_LABEL_MAPS, get_label_map, keeping_unmapped
from sier.corpora.mspimprov import read_mspimprov
from sier.corpora.msppodcast import PARTITION_NAMES as MSPPODCAST_PARTITIONS
from sier.corpora.msppodcast import read_msppodcast
from sier.corpora.nemo import read_nemo
from sier.corpora.ravdess import read_ravdess
from sier.corpora.records import PrepareResult, Utterance
from sier.corpora.savee import read_savee
from sier.corpora.shemo import read_shemo
from sier.corpora.subesco import read_subesco
from sier.corpora.subsets import ALL, subset_filter, subset_names
from sier.corpora.tess import read_tess
from sier.corpora.thaiser import read_thaiser
from sier.corpora.urdu import read_urdu
from sier.corpora.verbo import read_verbo
from sier.errors import CorpusError

READERS: dict[str, Callable[..., PrepareResult]] = {
    "iemocap": read_iemocap,
    "emodb": read_emodb,
    "ravdess": read_ravdess,
    "cremad": read_cremad,
    "emovo": read_emovo,
    "shemo": read_shemo,
    "esd": read_esd,
    "msppodcast": read_msppodcast,
    "mspimprov": read_mspimprov,
    "subesco": read_subesco,
    "cafe": read_cafe,
    "nemo": read_nemo,
    "emozionalmente": read_emozionalmente,
    "ased": read_ased,
    "urdu": read_urdu,
    "tess": read_tess,
    "savee": read_savee,
    "jl": read_jl,
    "eyase": read_eyase,
    "verbo": read_verbo,
    "thaiser": read_thaiser,
}
CORPORA = tuple(DEFAULT_LABEL_MAPS)  # the keys of READERS
ROOTS = {
    "iemocap": "IEMOCAP_full_release (or its parent)",
    "emodb": "the unpacked EmoDB download (holding wav/)",
    "ravdess": "the unpacked Audio_Speech_Actors_01-24.zip (holding Actor_01..Actor_24)",
    "cremad": "the CREMA-D repository (holding AudioWAV/ and VideoDemographics.csv)",
    "emovo": "the unpacked EMOVO folder (holding f1..f3, m1..m3)",
    "shemo": "the ShEMO folder (holding female/ and male/)",
    "esd": "the unpacked ESD folder (holding 0001..0020)",
    "msppodcast": "the MSP-Podcast release (holding Audios/ and Labels/)",
    "mspimprov": "the MSP-IMPROV folder (holding Evaluation.txt and session1..session6)",
    "subesco": "the SUBESCO folder (its wavs, named like F_02_MONIKA_S_1_ANGRY_3.wav, anywhere below)",
    "cafe": "the unpacked CaFE_48k folder (Colère/Faible/04-C-1-3.wav ..., any layout below)",
    "nemo": "the nEMO repository (holding data.tsv and samples/)",
    "emozionalmente": "the unpacked emozionalmente_dataset (holding audio/ and metadata/)",
    "ased": "the ASED_V1 repository (its wavs, named like a5-03-01-02-50.wav, anywhere below)",
    "urdu": "the URDU-Dataset repository (Angry/ Happy/ Neutral/ Sad/ of wavs named like SM1_F1_A01.wav)",
    "tess": "the TESS folder (its wavs, named like OAF_back_angry.wav, anywhere below)",
    "savee": "the SAVEE folder (AudioData/DC/a01.wav ..., or the Kaggle copy's ALL/DC_a01.wav ...)",
    "jl": "the JL-Corpus folder (holding Raw JL corpus (unchecked and unannotated)/JL(wav+txt)/)",
    "eyase": "the EYASE folder (holding Female01..Female03, Male01..Male03)",
    "verbo": "the VERBO folder (holding Audios/f1..f6, m1..m6)",
    "thaiser": "the THAI SER folder (the unzipped studio*/ zoom*/ folders, emotion_label.json, actor_demography.json)",
}
# Corpora whose "sessions" are their own speaker-independent partitions (session -> name):
# they are split by the `official` protocol, not by leaving one session out.
OFFICIAL_PARTITIONS: dict[str, dict[int, str]] = {"msppodcast": MSPPODCAST_PARTITIONS}


# The language of each corpus's speech; ESD's depends on the speaker.
LANGUAGES = {"iemocap": "English", "emodb": "German", "emovo": "Italian", "shemo": "Persian", "ravdess": "English",
             "cremad": "English", "msppodcast": "English", "mspimprov": "English", "subesco": "Bangla",
             "cafe": "French", "nemo": "Polish", "emozionalmente": "Italian", "ased": "Amharic",
             "urdu": "Urdu", "tess": "English", "savee": "English", "jl": "English",
             "eyase": "Arabic", "verbo": "Portuguese",
             "thaiser": "Thai"}


def corpus_help() -> str:
    """"iemocap (English), emodb (German), ...": the corpora and their languages, for help texts."""
    return ", ".join(f"{c} ({'Mandarin, English' if c == 'esd' else LANGUAGES[c]})" for c in CORPORA)


def language_of(corpus: str, speaker: str) -> str:
    """The language `speaker` of `corpus` speaks ("unknown" for a corpus sier does not know)."""
    if corpus == "esd":
        return esd_language(speaker)
    return LANGUAGES.get(corpus, "unknown")


def _reader(corpus: str) -> Callable[..., PrepareResult]:
    try:
        return READERS[corpus]
    except KeyError:
        raise CorpusError(f"unknown corpus {corpus!r}; choose one of {list(CORPORA)}.") from None


def default_label_map(corpus: str) -> str:
    """The label map of `corpus` used when none is named (its 4 classes: neu, hap, ang, sad)."""
    _reader(corpus)  # a clear error for an unknown corpus
    return DEFAULT_LABEL_MAPS[corpus]


def read_corpus(corpus: str, root: str | os.PathLike, label_map: str | None = None, subset: str = ALL,
                all_rated: bool = False) -> PrepareResult:
    """Read the `corpus` tree at `root` under `label_map` (default: the corpus's own 4 classes),
    keeping `subset` only (sier.corpora.subsets; "all" by default).

    all_rated: also keep the utterances whose label the map has no class for, where they are
    rated for arousal, valence or dominance, with the corpus's own label (for the dimensions;
    class metrics skip them). The release counts are not checked then."""
    from sier.corpora.coverage import single_class_speakers

    reader = _reader(corpus)
    lmap = get_label_map(label_map or DEFAULT_LABEL_MAPS[corpus], corpus)
    if subset_names(subset):
        subset_filter(corpus, subset)  # a clear error before the tree is read
        reader = partial(reader, subset=subset)
    result = keep_rated_outside(reader(root, keeping_unmapped(lmap)), lmap.classes) if all_rated else reader(root, lmap)
    confounded = single_class_speakers(result.utterances, lmap.classes)
    if confounded:
        result.warnings.append(confounded)
    return result


def keep_rated_outside(result: PrepareResult, classes: Sequence[str]) -> PrepareResult:
    """Drop the utterances of `result` whose label is not one of `classes` and that have no
    rating (or no label at all); say how many were kept and dropped, by label, in its notes."""
    from collections import Counter

    from sier.corpora.dimensions import has_rating

    def wanted(u: Utterance) -> bool:  # an empty label (MSP-Podcast's Test3) names nothing: left out
        return u.label in classes or bool(u.label) and has_rating(u)

    outside = [u for u in result.utterances if u.label not in classes]
    kept = Counter(u.label for u in outside if wanted(u))
    dropped = Counter(u.label for u in outside if not wanted(u))
    result.utterances = [u for u in result.utterances if wanted(u)]

    def listed(counts: Counter) -> str:
        return ", ".join(f"{label or '(none)'} {n}" for label, n in counts.most_common())

    result.notes.append(f"kept {sum(kept.values())} rated utterances whose label is not a class, for the dimensions "
                        f"only: {listed(kept) or 'none'}")
    if dropped:
        result.notes.append(f"left out {sum(dropped.values())} unrated or unlabelled utterances of no class: "
                            f"{listed(dropped)}")
    return result
