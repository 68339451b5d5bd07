"""One exception type per stage. Messages name the file and the fix; the CLI prints them
without a traceback and exits non-zero."""


class SierError(Exception):
    """Base of every error sier raises on purpose (bad input, bad state)."""


class CorpusError(SierError):
    """A corpus tree, label file or manifest is missing or malformed."""


class AudioError(SierError):
    """An audio file cannot be used (unreadable, empty, too short, non-finite)."""


class SplitError(SierError):
    """Folds are invalid, e.g. a speaker appears in two of train/val/test."""


class FeatureError(SierError):
    """An upstream model cannot be loaded or features cannot be computed or read."""


class ModelError(SierError):
    """A model configuration is inconsistent."""


class CheckpointError(SierError):
    """A file is not a sier checkpoint, or does not match the data it is used with."""


class TrainingError(SierError):
    """A training run cannot start or resume."""


class EvaluationError(SierError):
    """An evaluation cannot run on the given checkpoints or experiment directory."""


class InferenceError(SierError):
    """Prediction, streaming, serving or export failed on user input."""
