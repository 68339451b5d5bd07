"""sier: speaker-independent speech emotion recognition.

Stages (each imports only the ones above it): corpora -> splits -> audio -> features ->
models -> training -> evaluation -> inference. The `sier` CLI is a thin shell over them.
"""

__version__ = "0.1.0"
