"""Fixed properties of the speech models that stage code relies on (no model is loaded here)."""

SAMPLE_RATE = 16000  # Hz: every speech model (Silero, pyannote segmentation, the speaker embedders, Whisper)
VAD_WINDOW = 512  # samples per Silero VAD decision (32 ms)
CHUNK_S = 5.0  # seconds of audio per pyannote segmentation chunk
