"""Audio facts as named constants; derived values are computed where they are used."""

SAMPLE_RATE = 16_000  # Hz: every upstream and the fbank front-end run at 16 kHz mono
DEFAULT_MIN_DURATION_S = 0.1  # shorter audio is rejected as too short to classify
FBANK_HOP_S = 0.02  # 20 ms hop: the same frame rate as HuBERT / wav2vec 2.0 (50 Hz)
FBANK_WIN_S = 0.025
FBANK_N_MELS = 80
