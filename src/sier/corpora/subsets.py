"""Named subsets of a corpus by how its speech was produced, chosen from the utterance id.

IEMOCAP's dialogs are improvised or scripted, and many papers report the improvised ones
alone (scripted turns repeat the same lines across speakers and emotions). MSP-IMPROV's
recordings are read target sentences (R), improvised scenes (S: the target sentence
inside the scene, I: the rest of the scene) and natural interaction between scenes (P).
THAI SER's recordings have improvised and scripted parts, like IEMOCAP's dialogs.
A subset is a comma list of names ("improvised,natural"); "all" keeps everything.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

from sier.corpora.records import Utterance
from sier.errors import CorpusError

ALL = "all"

_IEMOCAP_DIALOG = re.compile(r"^Ses\d{2}[FM]_(?P<kind>impro|script)")
_MSPIMPROV_TYPE = re.compile(r"^MSP-IMPROV-S\d{2}[A-Z]-[FM]\d{2}-(?P<kind>[A-Z])-")
_THAISER_PART = re.compile(r"^[sz]\d{3}_(?:con|mic)_actor\d{3}_(?P<kind>impro|script)")


def _kind(pattern: re.Pattern, *kinds: str) -> Callable[[str], bool]:
    """Whether an utterance id matches `pattern` with its "kind" group one of `kinds`."""
    return lambda utt_id: (m := pattern.match(utt_id)) is not None and m["kind"] in kinds


# corpus -> subset name -> (what it holds, whether an utterance id belongs to it)
SUBSETS: dict[str, dict[str, tuple[str, Callable[[str], bool]]]] = {
    "iemocap": {
        "improvised": ("improvised dialogs (impro)", _kind(_IEMOCAP_DIALOG, "impro")),
        "scripted": ("scripted dialogs (script)", _kind(_IEMOCAP_DIALOG, "script")),
    },
    "mspimprov": {
        "read": ("read target sentences (R)", _kind(_MSPIMPROV_TYPE, "R")),
        "improvised": ("improvised scenes (S, I)", _kind(_MSPIMPROV_TYPE, "S", "I")),
        "natural": ("natural interaction (P)", _kind(_MSPIMPROV_TYPE, "P")),
    },
    "thaiser": {
        "improvised": ("improvised parts (impro)", _kind(_THAISER_PART, "impro")),
        "scripted": ("scripted parts (script)", _kind(_THAISER_PART, "script")),
    },
}


OTHER = "unspecified"  # the recording kind of an utterance of a corpus without subsets


def recording_of(corpus: str, utt_id: str) -> str:
    """The subset an utterance belongs to ("improvised", "read", ...), OTHER for a corpus without
    subsets; subsets of one corpus do not overlap, so the first that holds it names it."""
    for name, (_, test) in SUBSETS.get(corpus, {}).items():
        if test(utt_id):
            return name
    return OTHER


def subset_names(subset: str) -> list[str]:
    """The names of a comma list ("improvised,natural"); [] for "all"."""
    names = [n.strip() for n in subset.split(",") if n.strip()]
    return [] if names in ([], [ALL]) else names


def describe_subsets() -> str:
    """One line per corpus with subsets, for --help and errors."""
    return "; ".join(f"{corpus}: {', '.join(names)}" for corpus, names in SUBSETS.items())


def subset_filter(corpus: str, subset: str) -> Callable[[str], bool]:
    """Whether an utterance id of `corpus` is in `subset`; CorpusError naming the choices when
    the corpus has no such subset."""
    names = subset_names(subset)
    if not names:
        return lambda utt_id: True
    known = SUBSETS.get(corpus, {})
    unknown = [n for n in names if n not in known]
    if unknown:
        have = f"its subsets are {', '.join(known)}" if known else "it has none"
        raise CorpusError(f"corpus {corpus} has no subset {', '.join(unknown)}: {have} "
                          f"(subsets: {describe_subsets()}; 'all' keeps every utterance).")
    tests = [known[n][1] for n in names]
    return lambda utt_id: any(test(utt_id) for test in tests)


def left_out_note(corpus: str, subset: str, left_out: int) -> str:
    """The line a reader adds when a subset left utterances out."""
    kept = ", ".join(SUBSETS[corpus][n][0] for n in subset_names(subset))
    return f"subset {subset}: kept {kept}; left out {left_out} utterance(s) of other recordings (before the label map)"


def select_subset(utterances: Sequence[Utterance], subset: str) -> list[Utterance]:
    """The utterances in `subset`, judged by each one's corpus (a manifest may pool corpora:
    every corpus in it must have the subset)."""
    if not subset_names(subset):
        return list(utterances)
    filters = {corpus: subset_filter(corpus, subset) for corpus in sorted({u.corpus for u in utterances})}
    return [u for u in utterances if filters[u.corpus](u.id)]
