"""Corpora whose file names say who speaks and with which emotion (all but IEMOCAP).

Each such reader names its files and parses a name into a `NamedFile`; the rest (label map,
durations, unreadable files, what was left out) is the same for all of them. The folder
search (`folder_holding`) also serves the MSP readers, whose labels come from a label file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from sier.corpora.labels import LABEL_MAPS, LabelMap
from sier.corpora.records import PrepareResult, count_differences
from sier.errors import CorpusError


@dataclass(frozen=True)
class NamedFile:
    """What a file name says: utterance id, speaker, speaker group, gender, raw label."""

    id: str
    speaker: str
    session: int  # the speaker group that the `session` fold protocol holds out together
    gender: str  # "F" or "M"
    label: str  # raw label code, before the label map


def wav_files(folder: Path, recursive: bool = False) -> list[Path]:
    """The wavs in `folder` (and below it, if `recursive`), sorted; macOS `._` forks left out."""
    found = folder.rglob("*.wav") if recursive else folder.glob("*.wav")
    return sorted(p for p in found if not p.name.startswith("._"))


def folder_holding(root: str | os.PathLike, holds: Callable[[Path], bool], corpus: str, expected: str,
                   article: str | None = None) -> Path:
    """`root`, or the first folder below it, for which `holds(folder)` is true (a copy unpacked
    one level deeper is found too); CorpusError naming the corpus and the `expected` layout
    otherwise ("not an MSP-Podcast tree": `article` where the first letter misleads)."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: not a directory; pass the {corpus} folder with --root ({expected}).")
    for candidate in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        if holds(candidate):
            return candidate
    article = article or ("an" if corpus[0] in "AEIOU" else "a")
    raise CorpusError(f"{root}: not {article} {corpus} tree; expected {expected}.")


def folder_of_speakers(root: str | os.PathLike, speaker_dir: re.Pattern, corpus: str, expected: str) -> Path:
    """`root`, or the first folder below it, that holds speaker folders (names matching
    `speaker_dir`); CorpusError naming the corpus and the `expected` layout otherwise."""
    return folder_holding(root, lambda folder: any(speaker_dir.match(p.name) for p in folder.iterdir() if p.is_dir()),
                          corpus, expected)


def speaker_wavs(base: Path, speaker_dir: re.Pattern) -> list[Path]:
    """Every wav in the speaker folders of `base` (see `folder_of_speakers`), sorted."""
    return sorted(wav for folder in base.iterdir() if folder.is_dir() and speaker_dir.match(folder.name)
                  for wav in wav_files(folder))


def named_wavs_below(root: str | os.PathLike, name: re.Pattern, corpus: str, holding: str,
                     expected: str) -> dict[Path, re.Match | None]:
    """Every wav below `root` with the match of its file name (None for other names), for
    corpora whose names say everything, in any folder layout; CorpusError when `root` is no
    folder ("pass `holding` with --root") or no name matches ("expected `expected`")."""
    wavs = parsed_wavs_below(root, lambda path: name.match(path.stem), corpus, holding, expected)
    return {p: name.match(p.stem) for p in wavs}


def parsed_wavs_below(root: str | os.PathLike, parse: Callable[[Path], Any], corpus: str, holding: str,
                      expected: str, folder: Callable[[Path], Path] = lambda root: root) -> list[Path]:
    """Every wav below `folder(root)`; CorpusError when `root` is no folder ("pass `holding` with
    --root") or `parse` understands none of them (returns None for all: "expected `expected`")."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: not a directory; pass {holding} with --root.")
    wavs = wav_files(folder(root), recursive=True)
    if not any(parse(p) for p in wavs):
        raise CorpusError(f"{root}: not a {corpus} tree; expected {expected}.")
    return wavs


def read_dealt_speakers(named: Mapping[Path, re.Match | None], lmap: LabelMap, corpus: str, groups: int,
                        speaker: Callable[[re.Match], str], label: Callable[[re.Match], str],
                        genders: Mapping[str, str] | None = None) -> PrepareResult:
    """Utterances of the `named` wavs (see `named_wavs_below`), their speakers dealt into `groups`
    speaker groups (`deal_into_groups`). A speaker's gender (F or M) is `genders[speaker]`, or
    without `genders` the `gender` group of each match."""
    if genders is None:
        genders = {speaker(m): m["gender"] for m in named.values() if m}
    dealt = deal_into_groups(dict(genders), groups)

    def parse(path: Path) -> NamedFile | None:
        m = named.get(path)
        return NamedFile(path.stem, speaker(m), dealt[speaker(m)], genders[speaker(m)], label(m)) if m else None

    return read_named_files(list(named), parse, lmap, corpus)


def deal_into_groups(genders: dict[str, str], groups: int) -> dict[str, int]:
    """Speaker -> group 1..`groups`: women and men each dealt round-robin in sorted order, so
    every group gets about the same number of each (speaker groups stand in for sessions)."""
    dealt = {}
    for gender in ("F", "M"):
        for i, speaker in enumerate(sorted(s for s, g in genders.items() if g == gender)):
            dealt[speaker] = i % groups + 1
    return dealt


def read_named_files(files: Iterable[Path], parse: Callable[[Path], NamedFile | None], lmap: LabelMap,
                     corpus: str) -> PrepareResult:
    """Utterances of the `files` whose names `parse` understands, under `lmap`, sorted by id.
    Files it does not (None) are left out and counted in one warning, and so are files whose
    id another file already gave (a copy in a second folder): ids must be unique."""
    result = PrepareResult(utterances=[])
    other: list[str] = []
    first: dict[str, Path] = {}
    repeated: list[str] = []
    for path in sorted(files):
        named = parse(path)
        if named is None:
            other.append(path.name)
            continue
        if named.id in first:
            repeated.append(f"{path} (as {first[named.id]})")
            continue
        first[named.id] = path
        label = lmap.map(named.label)
        if label is None:
            result.drop(named.label)
            continue
        result.add(named.id, path, named.speaker, named.session, named.gender, label, corpus)
    result.finish()
    if other:
        result.warnings.append(f"{len(other)} wav(s) left out whose names are not {corpus} names "
                               f"(or name an unknown speaker), e.g. {', '.join(sorted(other)[:3])}")
    if repeated:
        result.warnings.append(f"{len(repeated)} wav(s) left out whose utterance id another wav already gives "
                               f"(a copy?), e.g. {repeated[0]}; remove the copies")
    return result


def check_release_counts(result: PrepareResult, lmap: LabelMap, release: Mapping[str, Any], speakers: int,
                         name: str, release_name: str) -> None:
    """Warn (in `result`) about each class count that differs from the release's, for sier's
    own label maps of a whole copy (`speakers` of them); a partial copy is the user's choice."""
    if lmap is not LABEL_MAPS.get(lmap.name) or len({u.speaker for u in result.utterances}) != speakers:
        return
    kept = {c: release["classes"][c] for c in lmap.classes}
    known = {"total": sum(kept.values()), "classes": kept}
    result.warnings.extend(count_differences(result.utterances, known, release_name, name))
