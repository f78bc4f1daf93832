"""The standard benchmark's parts (`python -m screenalytics.benchmark`, `make bench`):

- :mod:`.inputs`: the composer's `bench` episode, composed once and cached by its plan's hash, with a silent copy
  and a facebank built once per face embedder.
- :mod:`.child` / :mod:`.measure`: one pipeline run in its own process; wall clock, CPU seconds, peak RSS.
- :mod:`.baselines`: the naive per-frame loop and `face_recognition`.
- :mod:`.floor`: each model's unit cost alone, and the work a run gave it.
- :mod:`.scoring`: the pure arithmetic (accuracy against truth, floor, targets); :mod:`.report`: JSON and Markdown.
- :mod:`.audio`: the audio stages on real recordings (`--audio`).
"""
