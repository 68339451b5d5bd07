"""The corpora sier reads, by name: one reader per layout, each with its default label map."""

from __future__ import annotations

import os
from typing import Callable

from sier.corpora.labels import DEFAULT_LABEL_MAPS, get_label_map
from sier.corpora.records import PrepareResult
from sier.errors import CorpusError

CORPORA = tuple(DEFAULT_LABEL_MAPS)  # iemocap, emodb, ravdess, cremad, emovo, shemo
ROOTS = {
    "iemocap": "IEMOCAP_full_release (or its parent)",
    "emodb": "the unpacked EmoDB download (holding wav/)",
    "ravdess": "the unpacked Audio_Speech_Actors_01-24.zip (holding Actor_01..Actor_24)",
    "cremad": "the CREMA-D repository (holding AudioWAV/ and VideoDemographics.csv)",
    "emovo": "the unpacked EMOVO folder (holding f1..f3, m1..m3)",
    "shemo": "the ShEMO folder (holding female/ and male/)",
}


def _reader(corpus: str) -> Callable[..., PrepareResult]:
    if corpus == "iemocap":
        from sier.corpora.iemocap import read_iemocap

        return read_iemocap
    if corpus == "emodb":
        from sier.corpora.emodb import read_emodb

        return read_emodb
    if corpus == "ravdess":
        from sier.corpora.ravdess import read_ravdess

        return read_ravdess
    if corpus == "cremad":
        from sier.corpora.cremad import read_cremad

        return read_cremad
    if corpus == "emovo":
        from sier.corpora.emovo import read_emovo

        return read_emovo
    if corpus == "shemo":
        from sier.corpora.shemo import read_shemo

        return read_shemo
    raise CorpusError(f"unknown corpus {corpus!r}; choose one of {list(CORPORA)}.")


def default_label_map(corpus: str) -> str:
    """The label map of `corpus` used when none is named (its 4 classes: neu, hap, ang, sad)."""
    _reader(corpus)  # a clear error for an unknown corpus
    return DEFAULT_LABEL_MAPS[corpus]


def read_corpus(corpus: str, root: str | os.PathLike, label_map: str | None = None) -> PrepareResult:
    """Read the `corpus` tree at `root` under `label_map` (default: the corpus's own 4 classes)."""
    reader = _reader(corpus)
    name = label_map or DEFAULT_LABEL_MAPS[corpus]
    return reader(root, get_label_map(name, corpus))
