"""Log-mel filterbank front-end: no weights, the same frame rate as HuBERT (50 frames/s)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sier.constants import FBANK_HOP_S, FBANK_N_MELS, FBANK_WIN_S, SAMPLE_RATE

LOG_FLOOR = 1e-6  # added to mel energies before the log, so silence is finite


class FbankFrontend(nn.Module):
    """`[1, samples]` at SAMPLE_RATE -> log-mel `[frames, FBANK_N_MELS]` (HTK mel, Hann window,
    power spectrum, no centring: frames = 1 + (samples - win) // hop, as the HuBERT conv stack)."""

    def __init__(self, n_mels: int = FBANK_N_MELS):
        super().__init__()
        from transformers.audio_utils import mel_filter_bank

        self.win = round(FBANK_WIN_S * SAMPLE_RATE)  # 400 samples
        self.hop = round(FBANK_HOP_S * SAMPLE_RATE)  # 320 samples
        self.n_fft = 1 << (self.win - 1).bit_length()  # 512
        mel = mel_filter_bank(
            num_frequency_bins=self.n_fft // 2 + 1,
            num_mel_filters=n_mels,
            min_frequency=20.0,
            max_frequency=SAMPLE_RATE / 2,
            sampling_rate=SAMPLE_RATE,
            norm=None,
            mel_scale="htk",
        )
        self.register_buffer("mel", torch.from_numpy(mel).float(), persistent=False)  # [freqs, mels]
        self.register_buffer("window", torch.hann_window(self.win), persistent=False)
        self.requires_grad_(False)

    def forward(self, waveform: Tensor) -> Tensor:
        """`waveform [1, samples]` -> float32 `[frames, n_mels]`."""
        x = waveform.reshape(-1).float()
        if x.numel() < self.win:
            x = torch.nn.functional.pad(x, (0, self.win - x.numel()))
        frames = x.unfold(0, self.win, self.hop) * self.window  # [frames, win]
        power = torch.fft.rfft(frames, n=self.n_fft).abs().pow(2)  # [frames, freqs]
        return torch.log(power @ self.mel + LOG_FLOOR)
