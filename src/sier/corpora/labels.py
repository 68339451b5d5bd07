"""Label maps as data: corpus label -> class, and the class order used by models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from sier.errors import CorpusError


@dataclass(frozen=True)
class LabelMap:
    name: str
    mapping: Mapping[str, str]  # corpus label -> class; labels not in it are dropped
    classes: tuple[str, ...]  # class order: index i of the model's logits is classes[i]
    corpus: str = "iemocap"  # the corpus whose raw labels `mapping` reads

    def map(self, raw: str) -> str | None:
        return self.mapping.get(raw)


@dataclass(frozen=True)
class KeepUnmapped(LabelMap):
    """A label map that keeps the labels it has no class for as the corpus gives them (IEMOCAP's
    "fru" or "xxx", MSP-Podcast's X as "xxx"), for the dimensions (sier.corpora.registry's all_rated)."""

    def map(self, raw: str) -> str | None:
        return self.mapping.get(raw, raw)


def keeping_unmapped(lmap: LabelMap) -> KeepUnmapped:
    """`lmap` with its unmapped labels kept. The readers check release counts only under the
    registered maps themselves (LABEL_MAPS), so not under this one."""
    return KeepUnmapped(lmap.name, lmap.mapping, lmap.classes, lmap.corpus)


_IEMOCAP_ALL = ("neu", "hap", "exc", "ang", "sad", "fru", "sur", "fea", "dis", "oth")
_FOUR = ("neu", "hap", "ang", "sad")
_EMODB_ALL = _FOUR + ("bor", "dis", "fea")  # + boredom, disgust, fear
_RAVDESS_ALL = _FOUR + ("cal", "fea", "dis", "sur")  # + calm, fearful, disgust, surprised
_CREMAD_ALL = _FOUR + ("dis", "fea")  # + disgust, fear
_EMOVO_ALL = _FOUR + ("dis", "fea", "sur")  # + disgust, fear, surprise
_SHEMO_ALL = _FOUR + ("sur", "fea")  # + surprise, fear
_ESD_ALL = _FOUR + ("sur",)  # + surprise
_MSPPODCAST_8 = _FOUR + ("sur", "fea", "dis", "con")  # + surprise, fear, disgust, contempt
_SUBESCO_ALL = _FOUR + ("dis", "fea", "sur")  # + disgust, fear, surprise
_CAFE_ALL = _FOUR + ("dis", "fea", "sur")  # + disgust, fear, surprise
_NEMO_ALL = _FOUR + ("fea", "sur")  # + fear, surprise
_EMOZIONALMENTE_ALL = _FOUR + ("dis", "fea", "sur")  # + disgust, fear, surprise
_ASED_ALL = _FOUR + ("fea",)  # + fear
_TESS_ALL = _FOUR + ("dis", "fea", "sur")  # + disgust, fear, pleasant surprise
_SAVEE_ALL = _FOUR + ("dis", "fea", "sur")  # + disgust, fear, surprise
_VERBO_ALL = _FOUR + ("dis", "fea", "sur")  # + disgust, fear, surprise
_JL_PRIMARY = _FOUR + ("exc",)  # + excited
_JL_ALL = _JL_PRIMARY + ("anx", "apo", "asr", "cnc", "enc")  # + anxious, apologetic, assertive, concerned, encouraging


def _named_codes(name: str, classes: tuple[str, ...], corpus: str) -> LabelMap:
    """A map that keeps the readers' codes for `classes` (the readers of the named-file corpora
    already turn their labels into sier's codes) and drops the rest."""
    return LabelMap(name, {c: c for c in classes}, classes, corpus)


LABEL_MAPS: dict[str, LabelMap] = {
    "iemocap-4": LabelMap(
        "iemocap-4",
        {"neu": "neu", "hap": "hap", "exc": "hap", "ang": "ang", "sad": "sad"},
        ("neu", "hap", "ang", "sad"),
    ),
    # 6 classes as in much of the literature: the 4 above plus frustration and surprise.
    "iemocap-6": LabelMap(
        "iemocap-6",
        {"neu": "neu", "hap": "hap", "exc": "hap", "ang": "ang", "sad": "sad", "fru": "fru", "sur": "sur"},
        ("neu", "hap", "ang", "sad", "fru", "sur"),
    ),
    # Every label with an agreed majority; "xxx" (no agreement) is still dropped.
    "iemocap-all": LabelMap("iemocap-all", {lab: lab for lab in _IEMOCAP_ALL}, _IEMOCAP_ALL),
    # The other corpora: their readers turn labels into these codes (e.g. EmoDB's W into ang).
    # The 4-class maps of every corpus share IEMOCAP's classes and order, so a model trained
    # on one corpus can be scored on another.
    # EmoDB (German, 10 actors).
    "emodb-4": _named_codes("emodb-4", _FOUR, "emodb"),
    "emodb-7": _named_codes("emodb-7", _EMODB_ALL, "emodb"),
    # RAVDESS (English): "calm" is its own class in ravdess-8 and left out of ravdess-4.
    "ravdess-4": _named_codes("ravdess-4", _FOUR, "ravdess"),
    "ravdess-8": _named_codes("ravdess-8", _RAVDESS_ALL, "ravdess"),
    # CREMA-D (English, 91 actors).
    "cremad-4": _named_codes("cremad-4", _FOUR, "cremad"),
    "cremad-6": _named_codes("cremad-6", _CREMAD_ALL, "cremad"),
    # EMOVO (Italian, 6 actors) and ShEMO (Persian, 87 speakers).
    "emovo-4": _named_codes("emovo-4", _FOUR, "emovo"),
    "emovo-7": _named_codes("emovo-7", _EMOVO_ALL, "emovo"),
    "shemo-4": _named_codes("shemo-4", _FOUR, "shemo"),
    "shemo-6": _named_codes("shemo-6", _SHEMO_ALL, "shemo"),
    # ESD (Mandarin and English, 20 speakers).
    "esd-4": _named_codes("esd-4", _FOUR, "esd"),
    "esd-5": _named_codes("esd-5", _ESD_ALL, "esd"),
    # MSP-Podcast (English podcasts): the 8 primary emotions of its consensus labels; "other"
    # and "no agreement" are dropped.
    "msppodcast-4": _named_codes("msppodcast-4", _FOUR, "msppodcast"),
    "msppodcast-8": _named_codes("msppodcast-8", _MSPPODCAST_8, "msppodcast"),
    # MSP-IMPROV (English, 12 actors): its consensus labels are these four, "other" or none.
    "mspimprov-4": _named_codes("mspimprov-4", _FOUR, "mspimprov"),
    # SUBESCO (Bangla, 20 actors).
    "subesco-4": _named_codes("subesco-4", _FOUR, "subesco"),
    "subesco-7": _named_codes("subesco-7", _SUBESCO_ALL, "subesco"),
    # CaFE (Canadian French, 12 actors; both intensities of an emotion are one class).
    "cafe-4": _named_codes("cafe-4", _FOUR, "cafe"),
    "cafe-7": _named_codes("cafe-7", _CAFE_ALL, "cafe"),
    # nEMO (Polish, 9 actors).
    "nemo-4": _named_codes("nemo-4", _FOUR, "nemo"),
    "nemo-6": _named_codes("nemo-6", _NEMO_ALL, "nemo"),
    # Emozionalmente (Italian, 431 crowd-sourced speakers): the emotion each speaker meant.
    "emozionalmente-4": _named_codes("emozionalmente-4", _FOUR, "emozionalmente"),
    "emozionalmente-7": _named_codes("emozionalmente-7", _EMOZIONALMENTE_ALL, "emozionalmente"),
    # ASED (Amharic, 65 speakers).
    "ased-4": _named_codes("ased-4", _FOUR, "ased"),
    "ased-5": _named_codes("ased-5", _ASED_ALL, "ased"),
    # URDU (Urdu, 29 speakers in its names; four emotions only).
    "urdu-4": _named_codes("urdu-4", _FOUR, "urdu"),
    # TESS (English, 2 actresses), SAVEE (British English, 4 men), JL-Corpus (New Zealand
    # English, 4 speakers; its excited is a class of its own, not merged into happy as IEMOCAP's).
    "tess-4": _named_codes("tess-4", _FOUR, "tess"),
    "tess-7": _named_codes("tess-7", _TESS_ALL, "tess"),
    "savee-4": _named_codes("savee-4", _FOUR, "savee"),
    "savee-7": _named_codes("savee-7", _SAVEE_ALL, "savee"),
    "jl-4": _named_codes("jl-4", _FOUR, "jl"),
    "jl-5": _named_codes("jl-5", _JL_PRIMARY, "jl"),
    "jl-10": _named_codes("jl-10", _JL_ALL, "jl"),
    # EYASE (Egyptian Arabic, 6 speakers of a TV series; four emotions only).
    "eyase-4": _named_codes("eyase-4", _FOUR, "eyase"),
    # VERBO (Brazilian Portuguese, 12 actors).
    "verbo-4": _named_codes("verbo-4", _FOUR, "verbo"),
    "verbo-7": _named_codes("verbo-7", _VERBO_ALL, "verbo"),
    # THAI SER (Thai, 200 actors): the emotion each actor was asked to play.
    "thaiser-4": _named_codes("thaiser-4", _FOUR, "thaiser"),
    "thaiser-5": _named_codes("thaiser-5", _FOUR + ("fru",), "thaiser"),
}

# The label map a corpus uses when none is named.
DEFAULT_LABEL_MAPS = {"iemocap": "iemocap-4", "emodb": "emodb-4", "ravdess": "ravdess-4", "cremad": "cremad-4",
                      "emovo": "emovo-4", "shemo": "shemo-4", "esd": "esd-4",
                      "msppodcast": "msppodcast-4", "mspimprov": "mspimprov-4", "subesco": "subesco-4",
                      "cafe": "cafe-4", "nemo": "nemo-4", "emozionalmente": "emozionalmente-4", "ased": "ased-4",
                      "urdu": "urdu-4", "tess": "tess-4", "savee": "savee-4", "jl": "jl-4",
                      "eyase": "eyase-4", "verbo": "verbo-4",
                      "thaiser": "thaiser-4"}

# Known counts of iemocap-4 on the full release, to check a user's copy against.
IEMOCAP4_FULL_RELEASE = {
    "total": 5531,
    "classes": {"neu": 1708, "hap": 1636, "ang": 1103, "sad": 1084},
    "sessions": {1: 1085, 2: 1023, 3: 1151, 4: 1031, 5: 1241},
    "speakers": {
        "Ses01F": 528, "Ses01M": 557, "Ses02F": 481, "Ses02M": 542, "Ses03F": 522,
        "Ses03M": 629, "Ses04F": 528, "Ses04M": 503, "Ses05F": 590, "Ses05M": 651,
    },
}


# Known counts of the distributed EmoDB (all 7 emotions), RAVDESS speech files (8), CREMA-D (6),
# EMOVO (7), ShEMO (6), ESD (5), SUBESCO (7), CaFE (7), nEMO (6), ASED (5), URDU (4), TESS (7),
# SAVEE (7), JL-Corpus (10), EYASE (4) and VERBO (7).
EMODB_RELEASE = {
    "total": 535,
    "classes": {"ang": 127, "bor": 81, "dis": 46, "fea": 69, "hap": 71, "sad": 62, "neu": 79},
}
RAVDESS_SPEECH = {
    "total": 1440,
    "classes": {"neu": 96, "cal": 192, "hap": 192, "sad": 192, "ang": 192, "fea": 192, "dis": 192, "sur": 192},
}
CREMAD_RELEASE = {
    "total": 7442,
    "classes": {"ang": 1271, "dis": 1271, "fea": 1271, "hap": 1271, "neu": 1087, "sad": 1271},
}
EMOVO_RELEASE = {"total": 588, "classes": {c: 84 for c in _EMOVO_ALL}}
ESD_RELEASE = {"total": 35000, "classes": {c: 7000 for c in _ESD_ALL}}
# 12 actors x 6 sentences: each emotion at 2 intensities, neutral once
CAFE_RELEASE = {"total": 936, "classes": {**{c: 144 for c in _CAFE_ALL}, "neu": 72}}
SUBESCO_RELEASE = {"total": 7000, "classes": {c: 1000 for c in _SUBESCO_ALL}}  # 20 x 10 sentences x 5 takes
NEMO_RELEASE = {  # data.tsv of the repository
    "total": 4481,
    "classes": {"ang": 749, "fea": 736, "hap": 749, "neu": 809, "sad": 769, "sur": 669},
}
ASED_RELEASE = {  # every file name of the release, as two public loaders list them
    "total": 2474,
    "classes": {"neu": 522, "fea": 510, "hap": 486, "sad": 470, "ang": 486},
}
URDU_RELEASE = {"total": 400, "classes": {c: 100 for c in _FOUR}}  # the repository's four folders
TESS_RELEASE = {"total": 2800, "classes": {c: 400 for c in _TESS_ALL}}  # 2 speakers x 200 words
SAVEE_RELEASE = {"total": 480, "classes": {**{c: 60 for c in _SAVEE_ALL}, "neu": 120}}  # 4 x (30 neutral, 15 each)
JL_RELEASE = {"total": 2400, "classes": {c: 240 for c in _JL_ALL}}  # 4 x 15 sentences x 2 takes x 2 sessions
EYASE_RELEASE = {"total": 579, "classes": {"ang": 150, "hap": 132, "neu": 150, "sad": 147}}  # a full listing
VERBO_RELEASE = {"total": 1167, "classes": {**{c: 167 for c in _VERBO_ALL}, "hap": 166, "fea": 166}}  # a full listing
EMOZIONALMENTE_RELEASE = {"total": 6902}  # the paper gives no count per emotion
SHEMO_RELEASE = {
    "total": 3000,
    "classes": {"ang": 1059, "hap": 201, "neu": 1028, "sad": 449, "sur": 225, "fea": 38},
}


def get_label_map(name: str, corpus: str | None = None) -> LabelMap:
    """The named label map; with `corpus`, CorpusError unless the map reads that corpus's labels."""
    try:
        lmap = LABEL_MAPS[name]
    except KeyError:
        raise CorpusError(f"unknown label map {name!r}; choose one of {sorted(LABEL_MAPS)}") from None
    if corpus is not None and lmap.corpus != corpus:
        fitting = sorted(n for n, m in LABEL_MAPS.items() if m.corpus == corpus)
        raise CorpusError(f"label map {name!r} is for {lmap.corpus}, not {corpus}; use one of {fitting}.")
    return lmap
