"""Audio loading: formats, downmix, resampling, validation, and skipping bad files."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf

from sier.audio import SkipReport, audio_duration, iter_audio, load_audio, to_mono_16k, validate
from sier.constants import DEFAULT_MIN_DURATION_S, SAMPLE_RATE
from sier.errors import AudioError


def sine(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(x: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def write(path, data, rate=SAMPLE_RATE, **kw):
    sf.write(str(path), data, rate, **kw)
    return path


@pytest.mark.parametrize(
    "name, kw",
    [
        ("a.wav", {"subtype": "PCM_16"}),
        ("a.wav", {"subtype": "PCM_24"}),
        ("a.wav", {"subtype": "FLOAT"}),
        ("a.flac", {}),
        ("a.ogg", {"format": "OGG", "subtype": "VORBIS"}),
        ("a.aiff", {}),
    ],
)
def test_formats_load_as_float32_mono_16k(tmp_path, name, kw):
    fmt = kw.get("format", name.rsplit(".", 1)[1].upper())
    if fmt not in sf.available_formats():
        pytest.skip(f"libsndfile without {fmt}")
    x = sine(440, 0.3, SAMPLE_RATE)
    y = load_audio(write(tmp_path / name, x, **kw))
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - len(x)) <= 1 if fmt == "OGG" else len(y) == len(x)
    tol = 0.05 if fmt == "OGG" else 1e-3
    assert np.max(np.abs(y[: len(x)] - x[: len(y)])) < tol
    assert peak_hz(y) == pytest.approx(440, abs=5)


def test_stereo_is_downmixed(tmp_path):
    left = np.full(4000, 0.5, dtype=np.float32)
    right = np.full(4000, 0.1, dtype=np.float32)
    y = load_audio(write(tmp_path / "s.wav", np.stack([left, right], axis=1), subtype="FLOAT"))
    assert y.shape == (4000,)
    np.testing.assert_allclose(y, 0.3, atol=1e-6)


def test_multichannel_is_downmixed(tmp_path):
    data = np.stack([sine(440, 0.25, SAMPLE_RATE)] * 3 + [np.zeros(4000, np.float32)], axis=1)
    y = load_audio(write(tmp_path / "q.wav", data, subtype="FLOAT"))
    np.testing.assert_allclose(y, 0.75 * data[:, 0], atol=1e-6)


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100, 48_000])
def test_other_rates_resampled_keeping_frequency(tmp_path, rate):
    seconds = 0.5
    y = load_audio(write(tmp_path / f"r{rate}.wav", sine(1000, seconds, rate), rate, subtype="FLOAT"))
    assert y.dtype == np.float32
    assert abs(len(y) - seconds * SAMPLE_RATE) <= 1
    assert peak_hz(y) == pytest.approx(1000, abs=4)  # FFT bins are 2 Hz apart for 0.5 s
    # the amplitude is kept too (away from the edges)
    assert np.max(np.abs(y[1000:-1000])) == pytest.approx(0.5, abs=0.02)


def test_stereo_8k_downmixed_then_resampled(tmp_path):
    x = sine(500, 0.4, 8000)
    y = load_audio(write(tmp_path / "s8.flac", np.stack([x, x], axis=1), 8000))
    assert abs(len(y) - 6400) <= 1
    assert peak_hz(y) == pytest.approx(500, abs=5)


def test_to_mono_16k_directly():
    x = np.ones((800, 2), dtype=np.float64)
    y = to_mono_16k(x, 8000)
    assert y.dtype == np.float32 and y.ndim == 1 and abs(len(y) - 1600) <= 1
    z = to_mono_16k(np.zeros(160, dtype=np.int16), SAMPLE_RATE)
    assert z.dtype == np.float32 and z.shape == (160,)


# ---------------------------------------------------------------- bad input


def assert_audio_error(path, match, **kw):
    with pytest.raises(AudioError, match=match) as info:
        load_audio(path, **kw)
    assert str(path) in str(info.value)  # the message names the file


def test_empty_file_raises(tmp_path):
    assert_audio_error(write(tmp_path / "empty.wav", np.zeros(0, np.float32)), "empty")
    assert_audio_error(write(tmp_path / "empty8k.wav", np.zeros(0, np.float32), 8000), "empty")


def test_zero_byte_file_raises(tmp_path):
    (tmp_path / "zero.wav").write_bytes(b"")
    assert_audio_error(tmp_path / "zero.wav", "cannot decode")


def test_too_short_default_and_configurable(tmp_path):
    path = write(tmp_path / "short.wav", sine(440, 0.05, SAMPLE_RATE))  # 800 samples
    assert DEFAULT_MIN_DURATION_S > 0.05
    assert_audio_error(path, "too short")
    assert len(load_audio(path, min_duration_s=0.01)) == 800
    long_enough = write(tmp_path / "ok.wav", sine(440, 0.3, SAMPLE_RATE))
    assert_audio_error(long_enough, r"too short \(0\.300 s < 0\.5 s\)", min_duration_s=0.5)
    assert len(load_audio(long_enough, min_duration_s=0.0)) == 4800


def test_too_short_is_judged_after_resampling(tmp_path):
    path = write(tmp_path / "short8k.wav", sine(440, 0.05, 8000), 8000)
    assert_audio_error(path, "too short")
    assert abs(len(load_audio(path, min_duration_s=0.04)) - 800) <= 1


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_raises(tmp_path, bad):
    x = sine(440, 0.3, SAMPLE_RATE)
    x[100] = bad
    assert_audio_error(write(tmp_path / "nan.wav", x, subtype="FLOAT"), "NaN or infinite")
    assert_audio_error(write(tmp_path / "nan8k.wav", x, 8000, subtype="FLOAT"), "NaN or infinite")


@pytest.mark.parametrize(
    "content",
    [b"garbage bytes " * 50, b"RIFF\x10\x00\x00\x00WAVEfmt " + bytes(range(256)), b"fLaC" + b"\x00" * 100],
)
def test_garbage_bytes_raise(tmp_path, content):
    path = tmp_path / "garbage.wav"
    path.write_bytes(content)
    assert_audio_error(path, "cannot decode")
    with pytest.raises(AudioError, match="cannot read audio header") as info:
        audio_duration(path)
    assert str(path) in str(info.value)


def test_truncated_wav_does_not_crash(tmp_path):
    path = write(tmp_path / "t.wav", sine(440, 0.3, SAMPLE_RATE))
    path.write_bytes(path.read_bytes()[:2000])
    try:
        y = load_audio(path)
    except AudioError as exc:
        assert str(path) in str(exc)
    else:
        assert y.dtype == np.float32 and np.all(np.isfinite(y))


def test_missing_file_and_directory_raise(tmp_path):
    assert_audio_error(tmp_path / "nope.wav", "not found")
    (tmp_path / "dir.wav").mkdir()
    assert_audio_error(tmp_path / "dir.wav", "not found")


def test_validate_names_the_source():
    with pytest.raises(AudioError, match="^mic: audio is empty"):
        validate(np.zeros(0, np.float32), "mic")
    x = np.zeros(SAMPLE_RATE, np.float32)
    assert validate(x, "mic") is x


def test_audio_duration_reads_header(tmp_path):
    assert audio_duration(write(tmp_path / "a.wav", np.zeros(12_000, np.float32), 8000)) == 1.5
    assert audio_duration(write(tmp_path / "b.flac", np.zeros((4410, 2), np.float32), 44_100)) == 0.1
    with pytest.raises(AudioError, match="nope.wav"):
        audio_duration(tmp_path / "nope.wav")


# ---------------------------------------------------------------- iter_audio


def test_iter_audio_skips_and_reports(tmp_path, caplog):
    good1 = write(tmp_path / "good1.wav", sine(440, 0.2, SAMPLE_RATE))
    good2 = write(tmp_path / "good2.flac", sine(440, 0.2, 8000), 8000)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"\x00\x01" * 300)
    short = write(tmp_path / "short.wav", np.zeros(160, np.float32))
    nan = write(tmp_path / "nan.wav", np.full(4000, np.nan, np.float32), subtype="FLOAT")
    missing = tmp_path / "missing.wav"
    paths = [good1, garbage, short, good2, nan, missing]
    report = SkipReport()
    with caplog.at_level(logging.WARNING, logger="sier.audio"):
        got = list(iter_audio(paths, report))
    assert [p for p, _ in got] == [str(good1), str(good2)]
    assert all(y.dtype == np.float32 and abs(len(y) - 3200) <= 1 for _, y in got)
    assert [p for p, _ in report.skipped] == [str(garbage), str(short), str(nan), str(missing)]
    for path, reason in report.skipped:
        assert path in reason
    assert any("garbage.wav" in r.getMessage() for r in caplog.records)
    summary = report.summary()
    assert summary.startswith("4 file(s) skipped")
    assert "short.wav" in summary and "missing.wav" in summary


def test_iter_audio_min_duration_and_summary_limit(tmp_path):
    paths = [write(tmp_path / f"s{k}.wav", np.zeros(800, np.float32)) for k in range(7)]
    report = SkipReport()
    assert len(list(iter_audio(paths, report, min_duration_s=0.01))) == 7
    assert report.summary() == "no files skipped"
    assert list(iter_audio(paths, report, min_duration_s=0.1)) == []
    assert report.summary(limit=5).endswith("(+2 more)")
    assert "s5.wav" not in report.summary(limit=5)
