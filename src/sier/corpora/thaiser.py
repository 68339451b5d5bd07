"""THAI SER (Thai) reader for its distributed layout (the v1 release of vistec-AI/dataset-releases).

200 actors (112 women, 88 men), 27,854 utterances in 100 recordings: 80
in a studio (studio001-080; 1-18 a soundproofed room, the rest an ordinary room) and 20 over
Zoom. The release is ten zips (`studio1-10.zip` ... `zoom11-20.zip`) of flac files,
`studio1-10/studio001/con/s001_con_actor001_impro2_17.flac`: recording (s studio, z zoom,
number), microphone (con and clip in the studio, mic over Zoom), actor, improvised or
scripted part, and a running number; plus two tables:

- `emotion_label.json`: `{"<file>.flac": [{"assigned_emo": "Angry", "majority_emo": ...,
  "agreement": ..., "annotated": ...}]}`, for the con and mic files. The label is the
  emotion the actor was asked to play (`assigned_emo`: Neutral, Angry, Happy, Sad,
  Frustrated), as in the other acted corpora and the public loaders. A scripted file without
  an entry takes it from the first digit of its name's last field (1 Neutral ... 5
  Frustrated); an improvised one without an entry is left out and counted.
- `actor_demography.json`: `{"data": [{"Actor's ID": "001", "Sex": "Female", "Age": ...}]}`,
  the genders.

The clip microphone records the same utterances as con, so clip files are left out (a
note counts them): one recording must not count twice.

Speaker groups ("sessions"): the actors of a recording act together (100 recordings of 200
actors, as in IEMOCAP's sessions), so partners stay together: actors linked by a recording form a unit,
and units are dealt into five groups, largest first into the smallest. `--subset
improvised` or `scripted` keeps those parts (sier.corpora.subsets).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Callable

from sier.corpora.labels import LabelMap, get_label_map
from sier.corpora.named_files import NamedFile, read_named_files
from sier.corpora.records import PrepareResult
from sier.corpora.subsets import ALL, left_out_note, subset_filter, subset_names
from sier.errors import CorpusError

CORPUS = "thaiser"

FILE_NAME = re.compile(r"^(?P<room>[sz])(?P<recording>\d{3})_(?P<mic>con|clip|mic)_actor(?P<actor>\d{3})_"
                       r"(?P<kind>impro|script)\S*$")
EMOTIONS = {"Neutral": "neu", "Angry": "ang", "Happy": "hap", "Sad": "sad", "Frustrated": "fru"}
SCRIPT_DIGITS = ("Neutral", "Angry", "Happy", "Sad", "Frustrated")  # 1..5
LABELS, ACTORS = "emotion_label.json", "actor_demography.json"
GROUPS = 5


def _json_below(root: Path, name: str) -> tuple[Path, Any]:
    """The first `name` at or below `root`, parsed; CorpusError naming it and the fix otherwise."""
    path = next(iter(sorted(root.rglob(name))), None)
    if path is None:
        raise CorpusError(f"{root}: no {name}; download it from the THAI SER v1 release "
                          f"(github.com/vistec-AI/dataset-releases) into the corpus folder.")
    try:
        return path, json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorpusError(f"{path}: not readable as JSON ({exc}); download it again.") from exc


def read_genders(path: Path, table: Any) -> dict[str, str]:
    """Speaker id (thai001) -> F or M from actor_demography.json; CorpusError naming the entry it cannot read."""
    genders = {}
    try:
        for actor in table["data"]:
            ident, sex = actor["Actor's ID"], str(actor["Sex"]).strip().lower()
            if sex[:1] not in ("f", "m"):
                raise CorpusError(f"{path}: actor {ident} has Sex {actor['Sex']!r}, not female or male.")
            genders[f"thai{int(ident):03d}"] = sex[0].upper()
    except (KeyError, TypeError, ValueError) as exc:
        raise CorpusError(f"{path}: not THAI SER's {ACTORS} ({{\"data\": [{{\"Actor's ID\", \"Sex\", \"Age\"}}]}}): "
                          f"{exc!r}") from exc
    return genders


def read_labels(path: Path, table: Any) -> dict[str, str]:
    """File name -> assigned emotion from emotion_label.json; CorpusError naming the file where
    an entry is not as released."""
    try:
        return {name: str(entries[0]["assigned_emo"]) for name, entries in table.items()}
    except (AttributeError, IndexError, KeyError, TypeError) as exc:
        raise CorpusError(f"{path}: not THAI SER's {LABELS} ({{\"<file>.flac\": [{{\"assigned_emo\": ...}}]}}): "
                          f"{exc!r}") from exc


def deal_recordings(pairs: set[tuple[str, str]], groups: int) -> dict[str, int]:
    """Speaker -> group 1..`groups`, keeping the speakers of each recording (`pairs` of recording,
    speaker) together: speakers linked through recordings form a unit, and units are dealt
    largest first, each into the group with the fewest speakers so far."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    first: dict[str, str] = {}
    for recording, speaker in sorted(pairs):
        parent[find(speaker)] = find(first.setdefault(recording, speaker))
    units: dict[str, list[str]] = {}
    for speaker in sorted({s for _, s in pairs}):
        units.setdefault(find(speaker), []).append(speaker)
    sizes, dealt = [0] * groups, {}
    for unit in sorted(units.values(), key=lambda u: (-len(u), u)):
        group = sizes.index(min(sizes))
        sizes[group] += len(unit)
        dealt.update({speaker: group + 1 for speaker in unit})
    return dealt


def _label(path: Path, m: re.Match, labels: dict[str, str]) -> str | None:
    """The assigned emotion of a file: its emotion_label.json entry, or a scripted name's digit."""
    if path.name in labels:
        return labels[path.name]
    digit = path.stem.rsplit("_", 1)[-1][:1]
    if m["kind"] == "script" and digit in ("1", "2", "3", "4", "5"):
        return SCRIPT_DIGITS[int(digit) - 1]
    return None


def _sort_out(found: dict[Path, re.Match | None], labels: dict[str, str],
              in_subset: Callable[[str], bool]) -> tuple[dict[Path, tuple[re.Match, str]], dict[str, list[Path]]]:
    """(the files to read: their name match and assigned emotion; the files left out: "clip"
    microphone, "unlabelled" improvised, outside the "subset", and "other" names)."""
    left: dict[str, list[Path]] = {"clip": [], "unlabelled": [], "subset": [], "other": []}
    named = {}
    for path, m in found.items():
        if m is None:
            left["other"].append(path)
        elif m["mic"] == "clip":
            left["clip"].append(path)
        elif not in_subset(path.stem):
            left["subset"].append(path)
        elif (label := _label(path, m, labels)) is None:
            left["unlabelled"].append(path)
        else:
            named[path] = (m, label)
    return named, left


def read_thaiser(root: str | os.PathLike, label_map: str | LabelMap = "thaiser-4", subset: str = ALL) -> PrepareResult:
    """Read a THAI SER tree (its flacs and two JSON tables anywhere below `root`) into Utterances
    under `label_map`, sorted by id; `subset` "improvised" or "scripted" keeps those parts only."""
    lmap = get_label_map(label_map, CORPUS) if isinstance(label_map, str) else label_map
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: not a directory; pass the THAI SER folder (the unzipped studio*/zoom* "
                          f"folders and {LABELS}, {ACTORS}) with --root.")
    found = {p: FILE_NAME.match(p.stem) for p in sorted(root.rglob("*.flac")) if not p.name.startswith("._")}
    if not any(found.values()):
        raise CorpusError(f"{root}: not a THAI SER tree; expected flacs named like s001_con_actor001_impro2_17.flac "
                          f"(in the unzipped studio1-10/ ... zoom11-20/).")
    in_subset = subset_filter(CORPUS, subset)
    labels = read_labels(*_json_below(root, LABELS))
    genders = read_genders(*_json_below(root, ACTORS))
    named, left = _sort_out(found, labels, in_subset)
    speaker = {p: f"thai{m['actor']}" for p, (m, _) in named.items()}
    groups = deal_recordings({(m["room"] + m["recording"], speaker[p]) for p, (m, _) in named.items()}, GROUPS)

    def parse(path: Path) -> NamedFile | None:
        if path not in named or speaker[path] not in genders:
            return None
        raw = named[path][1]
        return NamedFile(path.stem, speaker[path], groups[speaker[path]], genders[speaker[path]], EMOTIONS.get(raw, raw))

    result = read_named_files([*named, *left["other"]], parse, lmap, CORPUS)
    if left["clip"]:
        result.notes.append(f"left out {len(left['clip'])} clip-microphone files: the same utterances as the con ones")
    if subset_names(subset):
        result.notes.append(left_out_note(CORPUS, subset, len(left["subset"])))
    if left["unlabelled"]:
        result.warnings.append(f"{len(left['unlabelled'])} improvised file(s) left out that have no entry in {LABELS}, "
                               f"e.g. {left['unlabelled'][0].name}")
    return result
