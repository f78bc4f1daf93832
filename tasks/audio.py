"""Audio extraction: the episode's first audio track as 16-bit mono PCM WAV at a fixed rate, on the container
timeline (the WAV's first sample plays at `start_s`, which may differ from the video's start)."""
from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import av
import numpy as np

from screenalytics.tasks.errors import InputError
from screenalytics.tasks.video import open_container


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # int16, mono
    sample_rate: int
    start_s: float

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    @classmethod
    def from_wav(cls, data: bytes, *, start_s: float) -> Audio:
        with wave.open(io.BytesIO(data)) as wav:
            if (wav.getnchannels(), wav.getsampwidth()) != (1, 2):
                raise ValueError("expected 16-bit mono WAV (as written by to_wav)")
            samples = np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
            return cls(samples, wav.getframerate(), start_s)

    def to_wav(self) -> bytes:
        buf = io.BytesIO()
        with wave.open(buf, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.sample_rate)
            out.writeframes(self.samples.tobytes())
        return buf.getvalue()


def extract_audio(path: str, *, sample_rate: int) -> Audio | None:
    """Decode and resample the first audio track (None when the file has none)."""
    with open_container(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        start_s: float | None = None
        try:
            for frame in container.decode(stream):
                if start_s is None and frame.pts is not None:
                    start_s = float(frame.pts * frame.time_base)
                chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
        except av.error.FFmpegError as exc:
            raise InputError(f"{path}: the audio track is damaged ({exc}). Re-export the file.") from exc
    samples = np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, np.int16)
    return Audio(samples, sample_rate, start_s or 0.0)
