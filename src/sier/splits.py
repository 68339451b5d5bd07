"""Speaker-independent folds and the checker that every later stage runs on them."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Sequence

from sier.corpora.records import Utterance
from sier.errors import SplitError
from sier.fileio import read_json, write_json

PROTOCOLS = ("session", "speaker", "corpus", "official")


@dataclass(frozen=True)
class Fold:
    """One fold: utterance ids and speakers of train / val / test."""

    index: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    train_speakers: tuple[str, ...]
    val_speakers: tuple[str, ...]
    test_speakers: tuple[str, ...]


def check_fold(fold: Fold, utterances: Sequence[Utterance] | None = None) -> None:
    """Raise SplitError if a speaker or an utterance is in two of train/val/test.

    With `utterances`, also check that each utterance's speaker belongs to its part.
    """
    parts = {"train": fold.train_speakers, "val": fold.val_speakers, "test": fold.test_speakers}
    names = list(parts)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = set(parts[a]) & set(parts[b])
            if shared:
                raise SplitError(f"fold {fold.index}: speaker(s) {sorted(shared)} in both {a} and {b}")
    ids = {"train": fold.train, "val": fold.val, "test": fold.test}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = set(ids[a]) & set(ids[b])
            if shared:
                raise SplitError(f"fold {fold.index}: utterance(s) {sorted(shared)[:5]} in both {a} and {b}")
    if utterances is not None:
        speaker_of = {u.id: u.speaker for u in utterances}
        for part in names:
            allowed = set(parts[part])
            for uid in ids[part]:
                if uid not in speaker_of:
                    raise SplitError(f"fold {fold.index}: utterance {uid} in {part} is not in the manifest")
                if speaker_of[uid] not in allowed:
                    raise SplitError(
                        f"fold {fold.index}: utterance {uid} of speaker {speaker_of[uid]} is in {part}, "
                        f"whose speakers are {sorted(allowed)}"
                    )


def _fold_from_speakers(index: int, utterances: Sequence[Utterance], val: set[str], test: set[str]) -> Fold:
    speakers = sorted({u.speaker for u in utterances})
    train = [s for s in speakers if s not in val and s not in test]
    fold = Fold(
        index=index,
        train=tuple(u.id for u in utterances if u.speaker in train),
        val=tuple(u.id for u in utterances if u.speaker in val),
        test=tuple(u.id for u in utterances if u.speaker in test),
        train_speakers=tuple(train),
        val_speakers=tuple(sorted(val)),
        test_speakers=tuple(sorted(test)),
    )
    check_fold(fold, utterances)
    return fold


def make_folds(utterances: Sequence[Utterance], protocol: str = "session") -> list[Fold]:
    """Speaker-disjoint folds.

    - `session`: one fold per session; test = that session's speakers, validation = the
      speakers of the next session (cyclically: session 5's fold validates on session 1),
      train = the rest.
    - `speaker`: one fold per speaker; test = that speaker, validation = the other
      speaker(s) of the same session (so no session partner of the test speaker, whose
      dialogs share content, is trained on), train = the rest.

    - `corpus` (manifests of three or more corpora pooled): one fold per corpus; test = all
      its speakers, validation = those of the next corpus (by name, cyclically), train = the
      other corpora. Each test corpus is new in speakers, texts, recording and perhaps language.
    - `official` (a corpus whose sessions are its own speaker-independent partitions, e.g.
      MSP-Podcast): one fold; train = session 1, validation = session 2, test = the rest.
      Those corpora take no other protocol but `corpus`.

    A session is a (corpus, session) pair: in a manifest that pools corpora (multi-corpus
    training), IEMOCAP's session 1 and EmoDB's speaker group 1 are two sessions, ordered by
    corpus name, then number.
    """
    if protocol not in PROTOCOLS:
        raise SplitError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    if protocol == "corpus":
        return _corpus_folds(utterances)
    if protocol == "official":
        return _official_folds(utterances)
    _refuse_partitioned(utterances, protocol)
    by_session: dict[tuple[str, int], set[str]] = {}
    for u in utterances:
        by_session.setdefault((u.corpus, u.session), set()).add(u.speaker)
    sessions = sorted(by_session)
    if len(sessions) < 3:
        raise SplitError(
            f"need at least 3 sessions (speaker groups) for train/val/test, the manifest has {len(sessions)} "
            f"({[s for _, s in sessions]}); pool it with other corpora (several --manifest) or score models "
            f"trained elsewhere on it (sier evaluate --test_manifest)"
        )
    folds = []
    if protocol == "session":
        for i, sess in enumerate(sessions):
            val_sess = sessions[(i + 1) % len(sessions)]
            folds.append(_fold_from_speakers(i, utterances, by_session[val_sess], by_session[sess]))
    else:
        for i, speaker in enumerate(sorted({u.speaker for u in utterances})):
            sess = next((u.corpus, u.session) for u in utterances if u.speaker == speaker)
            partners = by_session[sess] - {speaker}
            if not partners:
                raise SplitError(f"speaker {speaker} has no session partner to validate on")
            folds.append(_fold_from_speakers(i, utterances, partners, {speaker}))
    return folds


def _corpus_folds(utterances: Sequence[Utterance]) -> list[Fold]:
    """Leave one corpus out: test one corpus, validate on the next, train on the rest."""
    by_corpus: dict[str, set[str]] = {}
    for u in utterances:
        by_corpus.setdefault(u.corpus, set()).add(u.speaker)
    corpora = sorted(by_corpus)
    if len(corpora) < 3:
        raise SplitError(
            f"the corpus protocol needs manifests of at least 3 corpora (train/val/test), got {corpora}; "
            "pass several to --manifest, or use the session protocol"
        )
    return [_fold_from_speakers(i, utterances, by_corpus[corpora[(i + 1) % len(corpora)]], by_corpus[c])
            for i, c in enumerate(corpora)]


def _refuse_partitioned(utterances: Sequence[Utterance], protocol: str) -> None:
    """SplitError for a corpus whose sessions are official partitions: leaving one of them out
    (or a speaker and the rest of its partition) is no protocol anyone compares with."""
    from sier.corpora.registry import OFFICIAL_PARTITIONS

    partitioned = sorted({u.corpus for u in utterances} & set(OFFICIAL_PARTITIONS))
    if partitioned:
        names = ", ".join(OFFICIAL_PARTITIONS[partitioned[0]].values())
        raise SplitError(f"{partitioned[0]}'s sessions are its own partitions ({names}), not speaker groups; "
                         f"split it with --protocol official, not {protocol}")


def _official_folds(utterances: Sequence[Utterance]) -> list[Fold]:
    """One fold on a corpus's own partitions: train on session 1, validate on 2, test on the rest."""
    from sier.corpora.registry import OFFICIAL_PARTITIONS

    corpora = sorted({u.corpus for u in utterances})
    if len(corpora) != 1 or corpora[0] not in OFFICIAL_PARTITIONS:
        raise SplitError(f"the official protocol needs one corpus with its own partitions "
                         f"({', '.join(OFFICIAL_PARTITIONS)}), the manifest holds {corpora}; use the session protocol")
    names = OFFICIAL_PARTITIONS[corpora[0]]
    by_session: dict[int, set[str]] = {}
    for u in utterances:
        by_session.setdefault(u.session, set()).add(u.speaker)
    sessions = sorted(by_session)
    if len(sessions) < 3 or sessions[:2] != [1, 2]:
        raise SplitError(f"the official protocol trains on {names[1]}, validates on {names[2]} and tests on the "
                         f"rest; this {corpora[0]} manifest has {[names.get(s, s) for s in sessions]}")
    for i, a in enumerate(sessions):
        for b in sessions[i + 1 :]:
            shared = by_session[a] & by_session[b]
            if shared:
                raise SplitError(f"{corpora[0]}: speaker(s) {sorted(shared)[:5]} in both {names.get(a, a)} and "
                                 f"{names.get(b, b)}; these partitions are not speaker-independent")
    test = set().union(*(by_session[s] for s in sessions[2:]))
    return [_fold_from_speakers(0, utterances, by_session[2], test)]


def save_folds(path: str | os.PathLike, folds: Sequence[Fold], protocol: str) -> None:
    write_json(path, {"protocol": protocol, "folds": [asdict(f) for f in folds]})


def load_folds(path: str | os.PathLike) -> list[Fold]:
    """Read folds written by `save_folds`; each is checked again on load."""
    try:
        data = read_json(path)
        folds = [Fold(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in f.items()}) for f in data["folds"]]
    except (OSError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise SplitError(f"{path}: not a sier folds file ({exc}); create it with `sier split`.") from exc
    for fold in folds:
        check_fold(fold)
    return folds


def folds_table(folds: Sequence[Fold]) -> str:
    """A plain-text table: one row per fold with its speakers and utterance counts."""
    lines = [f"{'fold':>4}  {'test speakers':<16} {'val speakers':<16} {'#train':>6} {'#val':>5} {'#test':>5}"]
    for f in folds:
        lines.append(
            f"{f.index:>4}  {','.join(f.test_speakers):<16} {','.join(f.val_speakers):<16} "
            f"{len(f.train):>6} {len(f.val):>5} {len(f.test):>5}"
        )
    return "\n".join(lines)
