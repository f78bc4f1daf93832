"""Stage configs: the tunables of each stage, and `ModelsConfig`, which models run where (kept apart, as a
pipeline's models are kept apart from its hyper-parameters). Each field's description says what raising or lowering
it trades. Thresholds that depend on a model (face-embedding distances, the speaker clustering threshold) are unset
here and resolved once, in `settings`, from the chosen model's defaults (`MODEL_DEFAULTS`)."""
from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def fingerprint(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)


class ShotsConfig(StageConfig):
    detector: Literal["adaptive", "content"] = Field(
        "adaptive", description="PySceneDetect detector; adaptive copes better with pans and fast motion.")
    threshold: float = Field(
        3.0, gt=0, description="Cut threshold (adaptive ratio or content score). Lower finds more cuts, "
        "including false ones in fast motion; higher misses soft cuts.")
    min_content_val: float = Field(
        8.0, ge=0, description="Adaptive detector: least content change that can be a cut. Lower catches cuts "
        "between similar shots (two talking heads on one set); too low cuts on fast motion.")
    min_shot_s: float = Field(0.4, ge=0, description="Shortest shot; shorter ones merge into a neighbour.")
    analysis_width_px: int = Field(
        320, ge=64, description="Frames are downscaled to this width for cut analysis (speed vs. detail).")


class DetectConfig(StageConfig):
    sample_fps: float = Field(
        3.0, gt=0, description="Frames per second sent to the face detector. Higher = finer timing and more "
        "robust tracks, proportionally slower. Ignored when `stride` is set.")
    stride: int | None = Field(None, ge=1, description="Detect on every Nth frame instead of `sample_fps`.")
    det_thresh: float | None = Field(
        None, ge=0, le=1, description="Face detector score threshold. Lower finds more small/dim faces and more "
        "false positives. Unset: the face detector's own (yunet 0.6, scrfd 0.5; the detectors' scores are on "
        "different scales).")
    min_face_px: float = Field(10.0, ge=0, description="Discard detections shorter than this (pixels).")
    chip_margin: float = Field(0.5, ge=0, description="Context kept around a face chip, as a fraction of size.")
    chip_face_px: int = Field(
        160, ge=48, description="Chips are downscaled so the face is at most this tall; larger keeps more "
        "detail for embedding, costs storage.")
    chip_jpeg_quality: int = Field(92, ge=50, le=100, description="JPEG quality of stored face chips.")


class FaceCropsConfig(StageConfig):
    """Face crops at the full frame rate for the active-speaker model, cut in the scan pass."""

    enabled: bool = Field(
        True, description="Cut face crops and score who is visibly talking (the `asd` stage). Off: speech is "
        "attributed without visual evidence of talking.")
    min_face_px: float = Field(
        24.0, ge=8, description="Faces shorter than this get no crops and no score (too few pixels on the mouth). "
        "Lower reaches smaller picture-in-picture faces, with noisier scores.")
    match_iou: float = Field(
        0.3, gt=0, le=1, description="Overlap a face needs with a face in the next sampled frame for its box to be "
        "interpolated between the two; below it the box is held. Raise for crowded shots.")
    crop_jpeg_quality: int = Field(
        90, ge=50, le=100, description="JPEG quality of the stored crops (storage vs. fidelity; the model was "
        "trained on compressed video).")


class AsdConfig(StageConfig):
    """Active-speaker detection (LR-ASD) on the face crops, only where a track coexists with speech."""

    window_s: float = Field(
        2.0, ge=1, description="Seconds of video the model sees at once (its recurrent layers look across the "
        "window); the model was trained on windows of 1-6 s. On the GRID clips 2, 4 and 6 s were as accurate "
        "(docs/active_speaker.md).")
    every_s: float = Field(
        5.0, ge=0, description="One window is scored in every this many seconds of a track seen during speech "
        "(0: every frame). Lower gives evidence on shorter turns (a turn between two windows has none for that "
        "face), proportionally slower: 5 s scores 40% of the frames.")
    context_s: float = Field(
        0.5, ge=0, description="Seconds around each stretch of speech also scored (a talking face starts moving "
        "before the voice is detected). More context costs proportionally more frames.")
    min_frames: int = Field(
        10, ge=1, description="Shortest stretch of a track that is scored (frames at 25 fps); shorter ones get no "
        "score (too little motion to judge).")
    max_frames_per_min: int = Field(
        0, ge=0, description="Most face-frames scored per minute of video (0: no limit). Above it, every window is "
        "shortened around its centre by one factor, never below `min_frames`: a cap on the stage's cost (~0.9 ms "
        "per face-frame on two cores in int8) for episodes of many short shots with speech throughout, paid in "
        "evidence at the edges of each window (at 2500 a 1.5 s turn in a two-shot went to the listener's voice; "
        "docs/active_speaker.md).")


class TrackConfig(StageConfig):
    track_activation_threshold: float = Field(
        0.5, ge=0, le=1, description="Score a detection needs to start a track. Lower keeps faint faces.")
    high_conf_det_threshold: float = Field(0.55, ge=0, le=1, description="ByteTrack's first-stage score.")
    minimum_iou_threshold: float = Field(
        0.1, ge=0, le=1, description="IoU needed to link a detection to a track. Raise for crowded shots.")
    lost_track_buffer_s: float = Field(1.0, ge=0, description="How long a lost track may be re-found.")
    minimum_consecutive_frames: int = Field(1, ge=1, description="Sampled frames before a track is confirmed.")


class EmbedConfig(StageConfig):
    faces_per_track: int = Field(
        6, ge=1, description="Most faces embedded per track, spread over its length. More = steadier identity "
        "and a finer appearance gate, slower.")
    seconds_per_face: float = Field(
        1.0, gt=0, description="One embedded face per this many seconds of track (at least 2 per track so the "
        "appearance gate can compare, unless faces_per_track is 1; at most faces_per_track). Lower = more faces, "
        "slower.")
    min_face_px: float = Field(20.0, ge=0, description="Quality gate: faces shorter than this are not embedded.")
    min_det_score: float = Field(0.5, ge=0, le=1, description="Quality gate: minimum detector score.")
    min_sharpness: float = Field(
        5.0, ge=0, description="Quality gate: minimum variance of the Laplacian of the face (blur).")
    split_distance: float | None = Field(
        None, gt=0, description="Appearance gate: a track is split where the mean face embeddings before and after "
        "a point are further apart than this. Lower splits more eagerly. Unset: the face embedder's own (sface 0.8, "
        "dlib 0.75, arcface 1.3).")


class ClusterConfig(StageConfig):
    distance: float | None = Field(
        None, gt=0, description="Merge two groups of track segments when their centroids (mean of segment means) "
        "are closer than this. Lower splits people into several identities; higher merges look-alikes. Unset: the "
        "face embedder's own (sface 0.85, dlib 0.5, arcface 1.1).")
    neighbors: int = Field(20, ge=1, description="Nearest neighbours (faiss) considered per track segment.")
    cannot_link_cooccurring: bool = Field(
        True, description="Two tracks seen in the same frame are never the same identity.")


class MatchConfig(StageConfig):
    accept_distance: float | None = Field(
        None, gt=0, description="An identity takes a cast name only if its median face distance to that person is "
        "below this. Lower names fewer people (more `unknown_N`); higher risks naming extras. Unset: the face "
        "embedder's own (sface 1.07, dlib 0.58, arcface 1.15).")
    min_margin: float | None = Field(
        None, ge=0, description="...and if the second-nearest person is at least this much further away. Unset: "
        "the face embedder's own (sface 0.08, dlib and arcface 0.05).")
    min_vote_share: float = Field(
        0.5, ge=0, le=1, description="...and if this share of its faces vote for that person.")


class ScreenTimeConfig(StageConfig):
    max_gap_s: float = Field(
        0.5, ge=0, description="Gaps up to this long between a person's detections within a shot are "
        "bridged (missed detections). Never bridged across cuts.")
    min_track_s: float = Field(
        0.0, ge=0, description="Track segments shorter than this do not count as screen time (drops flickers).")


class AudioConfig(StageConfig):
    sample_rate: int = Field(16000, ge=8000, description="Rate of the extracted mono track (speech models use 16 kHz).")


class VadConfig(StageConfig):
    threshold: float = Field(
        0.3, gt=0, lt=1, description="Speech probability that starts speech. Lower finds quiet and far-field "
        "speech, and more noise and music as speech.")
    hysteresis: float = Field(0.15, ge=0, description="Speech ends when the probability drops below threshold "
                              "minus this.")
    min_speech_s: float = Field(0.25, ge=0, description="Shorter bursts are dropped (clicks, coughs).")
    min_silence_s: float = Field(0.3, ge=0, description="Shorter pauses inside speech are bridged.")
    pad_s: float = Field(0.1, ge=0, description="Padding added at both ends of each speech segment.")
    normalize: bool = Field(True, description="Scale the track to `target_rms` first (quiet recordings).")
    target_rms: float = Field(0.05, gt=0, description="Loudness the track is scaled to (linear RMS).")
    max_gain: float = Field(20.0, ge=1, description="Most a quiet track is amplified.")


class DiarizeConfig(StageConfig):
    num_speakers: int | None = Field(None, ge=1, description="Known number of speakers (default: estimated).")
    step_s: float = Field(1.0, gt=0, le=5, description="Hop between the 5 s segmentation chunks.")
    onset: float = Field(0.5, ge=0, le=1, description="A local speaker starts above this activity.")
    offset: float = Field(0.35, ge=0, le=1, description="A local speaker stops below this activity.")
    link_iou: float = Field(0.6, ge=0, le=1, description="Local speakers of consecutive chunks are linked when "
                            "their shared frames agree this well (intersection over union).")
    piece_s: float = Field(1.5, gt=0, description="Seconds of solo speech per embedded piece (the segmentation "
                           "model can keep two voices in one local speaker; short pieces let clustering split them).")
    pause_s: float = Field(0.25, gt=0, description="A pause this long inside a local speaker also ends a piece "
                           "(turns change at pauses).")
    refine_hop_s: float = Field(0.5, ge=0, description="Second pass: every this much solo speech takes the nearest "
                                "voice of the piece_s around it, so speaker changes inside a piece land within "
                                "this (0: off).")
    trim_end_s: float = Field(0.3, ge=0, description="A turn ending in silence ends where voice activity last "
                              "heard speech, moved back by at most this (the segmentation model's activity lingers "
                              "~0.2 s after speech stops; 0: off).")
    count: Literal["threshold", "silhouette"] = Field(
        "silhouette", description="How many voices (when num_speakers is unset): `silhouette` (default) picks the "
        "cut of the clustering tree whose groups are best separated in this recording; `threshold` cuts it at "
        "cluster_threshold (one distance for every recording; see docs/benchmarks.md).")
    max_speakers: int = Field(20, ge=2, description="Most voices the silhouette count considers.")
    min_silhouette: float = Field(0.05, ge=-1, le=1, description="Below this best mean silhouette the recording is "
                                  "taken to hold one voice.")
    cluster_threshold: float | None = Field(
        None, gt=0, description="Cosine distance at which average-linkage clustering of pieces stops merging, with "
        "count=threshold. Unset: the speaker embedder's own (ecapa 0.8, resemblyzer 0.35; both chosen on the AMI "
        "training excerpts).")
    min_speaker_s: float = Field(2.0, ge=0, description="Speakers with less speech join their nearest speaker.")
    min_off_s: float = Field(0.1, ge=0, description="Shorter pauses inside a speaker's turn are bridged.")
    min_on_s: float = Field(0.0, ge=0, description="Shorter turns are dropped.")


class TranscribeConfig(StageConfig):
    enabled: bool = Field(False, description="Transcribe speech with word timestamps (off by default: on two cores "
                          "it costs as much as the rest of the audio branch; high_accuracy turns it on).")
    language: str | None = Field("en", description="Spoken language code (None: detect).")
    beam_size: int = Field(1, ge=1, description="Beam width (1 = greedy, fastest).")
    batch_size: int = Field(8, ge=1, description="models.transcriber=whisperx: speech chunks decoded per batch.")


class FusionConfig(StageConfig):
    """Who speaks each turn, from the active-speaker scores (docs/active_speaker.md, "Attribution")."""

    talking_score: float = Field(
        0.0, description="Active-speaker logit above which a frame counts as talking. Higher credits fewer "
        "turns to faces seen talking (fewer listeners' false frames, more missed talkers).")
    min_talking_s: float = Field(
        0.5, ge=0, description="Seconds a face must be seen talking during a voice (or a turn, for a voice with no "
        "owner) to take it. Higher leaves more voices unattributed (`voice_N`).")
    min_talking_rate: float = Field(
        0.3, ge=0, le=1, description="A voice's owner talked for at least this share of the time their face was "
        "watched while the voice spoke. Higher rejects more listeners, and more owners mostly seen in profile.")
    turn_talking_rate: float = Field(
        0.5, ge=0, le=1, description="Within one turn, a face talking for this share of its watched time counts as "
        "the turn's talker; the owner below it counts as quiet. Lower splits merged voices more eagerly.")
    min_split_s: float = Field(
        1.0, ge=0, description="Seconds another face must be seen talking in a turn whose voice's owner is seen "
        "quiet, to take the turn from the owner (diarization merged two voices). Higher keeps voices whole.")
    min_voice_similarity: float = Field(0.5, ge=-1, le=1, description="With a voicebank: a voice no face was seen "
                                        "speaking is the enrolled person it sounds like at this cosine similarity "
                                        "or more (ECAPA: same speaker 0.74-0.89, others <= 0.25 on AMI).")
    warn_seen_talking_s: float = Field(
        2.0, ge=0, description="Warn about a named person seen talking this long but credited with no speech, and "
        "about a voice with this much speech never seen talking.")
    warn_confidence: float = Field(
        0.5, ge=0, le=1, description="Warn when turns attributed below this confidence add up to "
        "warn_seen_talking_s of speech.")
    warn_word_probability: float = Field(
        0.5, ge=0, le=1, description="Warn when the transcript's mean word probability is below this.")


class GuardrailsConfig(StageConfig):
    max_tracks_per_min: float = Field(120.0, description="Warn above this many tracks per minute.")
    max_short_track_fraction: float = Field(0.5, description="Warn when more tracks than this are short.")
    short_track_s: float = Field(0.5, description="A track shorter than this counts as short.")
    max_id_switch_rate: float = Field(0.2, description="Warn when this share of tracks were split by appearance.")
    max_singleton_cluster_fraction: float = Field(0.6, description="Warn when clusters are mostly singletons.")
    max_largest_cluster_fraction: float = Field(0.8, description="Warn when one cluster holds most tracks.")


class LimitsConfig(StageConfig):
    """What probe refuses before any stage runs, so that one file cannot exhaust the machine."""

    max_duration_h: float = Field(
        4.0, gt=0, description="Longest video accepted, in hours. Memory grows with length (the audio track and "
        "the per-frame tables are held whole); raise it on a machine with more memory, or split the file.")
    max_frame_mpx: float = Field(
        35.0, gt=0, description="Largest frame accepted, in megapixels (4K UHD is 8.3, 8K UHD 33.2): each decoded "
        "frame is held several times over while it is scanned.")


class ModelsConfig(StageConfig):
    """Which models run, where they come from and how many threads they get (structure, not tunables)."""

    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="`auto`: CUDA for the ONNX models when onnxruntime-gpu sees a GPU, else CPU.")
    threads: int = Field(2, ge=1, le=64, description="Thread budget per model on CPU (onnxruntime intra-op "
                         "threads, CTranslate2 threads, dlib worker processes); more than the machine's cores only "
                         "slows it down.")
    face_detector: Literal["yunet", "scrfd"] = Field(
        "yunet", description="`yunet` (default: YuNet, Apache-2.0 weights shipped with the package) or `scrfd` "
        "(SCRFD-2.5G-KPS: InsightFace weights, non-commercial research only).")
    face_embedder: Literal["sface", "dlib", "arcface"] = Field(
        "sface", description="`sface` (default: SFace, 128-d unit vectors, Apache-2.0 weights), `dlib` (ResNet, "
        "128-d, public-domain weights; ~5x slower) or `arcface` (InsightFace weights, non-commercial research only).")
    arcface_model: str | None = Field(None, description="Path of an ArcFace ONNX (for face_embedder=arcface).")
    active_speaker_precision: Literal["auto", "int8", "float32"] = Field(
        "auto", description="LR-ASD's visual encoder in `int8` (~1.6x faster on CPU; the speaking sign agrees with "
        "float32 on 99.96% of face-frames, docs/active_speaker.md) or `float32` (the reference network); `auto`: "
        "int8 on CPU, float32 on CUDA.")
    diarizer: Literal["segmentation", "vad", "pyannote"] = Field(
        "segmentation", description="`segmentation` (default: overlap-aware local speakers + speaker embeddings), "
        "`vad` (fast: Silero speech cut into windows, one speaker at a time) or `pyannote` (a local pipeline folder).")
    pyannote_dir: str | None = Field(None, description="Folder of a pyannote.audio pipeline (with config.yaml), "
                                     "for diarizer=pyannote.")
    speaker_embedder: Literal["ecapa", "resemblyzer"] = Field(
        "ecapa", description="Speaker embeddings: `ecapa` (SpeechBrain ECAPA-TDNN, VoxCeleb; default) or "
        "`resemblyzer` (GE2E d-vectors: ~4x faster, separates similar voices much worse; see docs/benchmarks.md).")
    transcriber: Literal["faster-whisper", "whisperx"] = Field(
        "faster-whisper", description="`faster-whisper` (default: Whisper's own word timestamps, only the speech "
        "regions decoded) or `whisperx` (batched decoding, then wav2vec2 forced alignment; its own environment: "
        "docs/models.md).")
    whisper_model: str | None = Field(None, description="CTranslate2 Whisper folder (default: the packaged tiny.en).")
    align_model: str | None = Field(None, description="transcriber=whisperx: local wav2vec2 CTC folder for word "
                                    "alignment in the spoken language.")


STAGES: dict[str, type[StageConfig]] = {
    "shots": ShotsConfig, "detect": DetectConfig, "facecrops": FaceCropsConfig, "track": TrackConfig,
    "embed": EmbedConfig,
    "cluster": ClusterConfig, "match": MatchConfig, "screentime": ScreenTimeConfig, "guardrails": GuardrailsConfig,
    "audio": AudioConfig, "vad": VadConfig, "diarize": DiarizeConfig, "transcribe": TranscribeConfig,
    "asd": AsdConfig, "fusion": FusionConfig, "limits": LimitsConfig, "models": ModelsConfig,
}
MODEL_DEFAULTS: dict[str, dict[str, dict[str, float]]] = {  # models.<field> -> model -> "section.field" -> value
    # chosen on composed episodes with exact truth and the labelled photo sets (docs/models.md, "Choosing the
    # thresholds"): each sits between the same-person and the different-person distributions measured there
    "face_detector": {"yunet": {"detect.det_thresh": 0.6}, "scrfd": {"detect.det_thresh": 0.5}},
    "face_embedder": {
        "sface": {"embed.split_distance": 0.8, "cluster.distance": 0.85, "match.accept_distance": 1.07,
                  "match.min_margin": 0.08},
        "dlib": {"embed.split_distance": 0.75, "cluster.distance": 0.5, "match.accept_distance": 0.58,
                 "match.min_margin": 0.05},
        "arcface": {"embed.split_distance": 1.3, "cluster.distance": 1.1, "match.accept_distance": 1.15,
                    "match.min_margin": 0.05},
    },
    "speaker_embedder": {"ecapa": {"diarize.cluster_threshold": 0.8},
                         "resemblyzer": {"diarize.cluster_threshold": 0.35}},
}
