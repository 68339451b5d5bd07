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

    def map(self, raw: str) -> str | None:
        return self.mapping.get(raw)


_IEMOCAP_ALL = ("neu", "hap", "exc", "ang", "sad", "fru", "sur", "fea", "dis", "oth")

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
}

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


def get_label_map(name: str) -> LabelMap:
    try:
        return LABEL_MAPS[name]
    except KeyError:
        raise CorpusError(f"unknown label map {name!r}; choose one of {sorted(LABEL_MAPS)}") from None
