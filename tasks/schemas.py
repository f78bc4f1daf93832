"""Pandera schemas: the one contract between stages.

Units are in column names (`_s` seconds, `_px` pixels). Every table a stage writes is validated against its schema
at the task boundary, and again when a later stage reads it, so a table that reaches a stage (or a user's DuckDB
query) always has these columns and types. Scalars that travel between stages are small frozen models at the end.
Bump `SCHEMA_VERSION` when a change here changes what is stored: it is part of every stage's cache key.
"""
from __future__ import annotations

import pandera.pandas as pa
from pandera.typing.pandas import Series
from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION = 3


class _Strict(pa.DataFrameModel):
    class Config:
        strict = True
        coerce = True


class Catalog(_Strict):
    """One row per episode: where it sits in a show (`catalog.parquet`, written when a run publishes; not a stage
    output). Season and episode are codes such as `S05` and `E03`."""

    ep_id: Series[str]
    show_name: Series[str] = pa.Field(nullable=True)
    season: Series[str] = pa.Field(nullable=True, str_matches=r"^S\d{2,}$")
    episode: Series[str] = pa.Field(nullable=True, str_matches=r"^E\d{2,}$")


class Episodes(_Strict):
    """One row per episode: what `probe` found in the container."""

    ep_id: Series[str]
    source_url: Series[str]
    content_sha256: Series[str]
    duration_s: Series[float] = pa.Field(gt=0)
    declared_duration_s: Series[float] = pa.Field(nullable=True)
    fps: Series[float] = pa.Field(gt=0)
    n_frames: Series[int] = pa.Field(ge=1)
    width_px: Series[int] = pa.Field(gt=0)
    height_px: Series[int] = pa.Field(gt=0)
    rotation_deg: Series[int]
    variable_frame_rate: Series[bool]
    video_start_s: Series[float]
    has_audio: Series[bool]
    audio_start_s: Series[float] = pa.Field(nullable=True)
    video_codec: Series[str]


class _Spans(_Strict):
    """Non-empty time spans of an episode, on the container timeline."""

    ep_id: Series[str]
    start_s: Series[float]
    end_s: Series[float]

    @pa.dataframe_check
    def ordered(cls, df) -> Series[bool]:  # noqa: N805
        return df["end_s"] > df["start_s"]


class Shots(_Spans):
    """Shots between hard cuts."""

    shot_id: Series[int] = pa.Field(ge=0)


class SampledFrames(_Strict):
    """Frames the detector saw; each covers halfway to its neighbours (`screentime.coverage`)."""

    ep_id: Series[str]
    frame_idx: Series[int] = pa.Field(ge=0, unique=True)
    t_s: Series[float]
    n_faces: Series[int] = pa.Field(ge=0)


class Detections(_Strict):
    """One row per detected face on a sampled frame. `kp*` are the detector's 5 landmarks in frame pixels (YuNet
    and SCRFD alike: image-left eye, other eye, nose tip, image-left mouth corner, other mouth corner)."""

    ep_id: Series[str]
    det_id: Series[int] = pa.Field(ge=0, unique=True)
    frame_idx: Series[int] = pa.Field(ge=0)
    t_s: Series[float]
    x1: Series[float]
    y1: Series[float]
    x2: Series[float]
    y2: Series[float]
    score: Series[float] = pa.Field(ge=0, le=1)
    face_h_px: Series[float] = pa.Field(ge=0)
    sharpness: Series[float] = pa.Field(ge=0)
    kp0_x: Series[float]
    kp0_y: Series[float]
    kp1_x: Series[float]
    kp1_y: Series[float]
    kp2_x: Series[float]
    kp2_y: Series[float]
    kp3_x: Series[float]
    kp3_y: Series[float]
    kp4_x: Series[float]
    kp4_y: Series[float]


class Chips(_Strict):
    """A JPEG crop around each detection (decoded once, re-used by embedding and reports)."""

    det_id: Series[int] = pa.Field(unique=True)
    x0_px: Series[int]
    y0_px: Series[int]
    scale: Series[float] = pa.Field(gt=0)
    jpeg: Series[object]


class FaceCrops(_Strict):
    """Grey 112x112 crops of the mouth and chin region at the full frame rate, for the active-speaker model: each
    frame between two sampled frames carries, per face of the earlier one (`det_id`), a crop along the box
    interpolated towards that face's box in the later one."""

    det_id: Series[int] = pa.Field(ge=0)
    frame_idx: Series[int] = pa.Field(ge=0)
    t_s: Series[float]
    jpeg: Series[object]

    @pa.dataframe_check
    def one_crop_per_face_and_frame(cls, df):  # noqa: N805
        return ~df.duplicated(["det_id", "frame_idx"])


class SpeakingScores(_Strict):
    """Per track and frame, the active-speaker model's logit that the face is visibly talking (> 0: talking),
    scored only while speech is heard."""

    track_id: Series[int]
    frame_idx: Series[int] = pa.Field(ge=0)
    t_s: Series[float]
    score: Series[float]


class Tracks(_Strict):
    """One row per tracked detection (the link back to `det_id` is kept)."""

    ep_id: Series[str]
    det_id: Series[int] = pa.Field(unique=True)
    track_id: Series[int] = pa.Field(ge=0)
    shot_id: Series[int] = pa.Field(ge=0)
    t_s: Series[float]


class FaceEmbeddings(_Strict):
    """Embeddings of the quality-gated faces chosen per track."""

    ep_id: Series[str]
    det_id: Series[int] = pa.Field(unique=True)
    track_id: Series[int]
    t_s: Series[float]
    quality: Series[float]
    embedder: Series[str]
    vector: Series[object]


class EmbeddedFaces(FaceEmbeddings):
    """Face embeddings with the track segment each face belongs to (the embed stage's output)."""

    segment_id: Series[int] = pa.Field(ge=0)


class TrackSegments(_Strict):
    """Which track segment every tracked detection belongs to: derived once, by the embed stage."""

    ep_id: Series[str]
    det_id: Series[int] = pa.Field(unique=True)
    track_id: Series[int] = pa.Field(ge=0)
    t_s: Series[float]
    segment_id: Series[int] = pa.Field(ge=0)


class Segments(_Strict):
    """Tracks cut where their appearance jumps (`appearance` gate); one row per piece."""

    ep_id: Series[str]
    segment_id: Series[int] = pa.Field(ge=0, unique=True)
    track_id: Series[int]
    start_s: Series[float]
    end_s: Series[float]
    n_faces: Series[int] = pa.Field(ge=0)


class Clusters(Segments):
    """Segments grouped into identities (`cluster_id` -1: no face passed the quality gate)."""

    cluster_id: Series[int] = pa.Field(ge=-1)


class Identities(Clusters):
    """Clusters named from the facebank: `person_id` is the cast name's slug, `unknown_N`, or `unidentified`
    (cluster -1, not counted in screen time)."""

    person_id: Series[str]
    name: Series[str]
    match_distance: Series[float] = pa.Field(nullable=True)
    match_margin: Series[float] = pa.Field(nullable=True)
    match_votes: Series[float] = pa.Field(nullable=True)


class SpeechSegments(_Spans):
    """Stretches where someone speaks (voice activity)."""


class SpeakerTurns(_Spans):
    """Who speaks when (diarization); turns of different voices may overlap."""

    speaker: Series[str]


class Voices(_Strict):
    """One row per voice found by diarization: its speech and its mean speaker embedding (unit length; 192-d ECAPA
    or 256-d Resemblyzer)."""

    ep_id: Series[str]
    speaker: Series[str] = pa.Field(unique=True)
    speech_s: Series[float] = pa.Field(ge=0)
    vector: Series[object]


class VoiceLinks(_Strict):
    """Each voice's owner: the person seen talking most while it speaks, or enrolled in the voicebank; else the
    voice itself (`voice_N`, also when its owner is an unnamed face); with the evidence (seconds seen talking and
    the share of the watched time that was talking, voicebank similarity) and the confidence (0 when unlinked)."""

    ep_id: Series[str]
    speaker: Series[str] = pa.Field(unique=True)
    person_id: Series[str]
    face_id: Series[str] = pa.Field(nullable=True)
    talking_s: Series[float] = pa.Field(ge=0)
    talking_rate: Series[float] = pa.Field(ge=0, le=1)
    voice_similarity: Series[float] = pa.Field(nullable=True)
    confidence: Series[float] = pa.Field(ge=0, le=1)


class TurnSpeakers(_Spans):
    """Each diarization turn with the person credited for it (a cast member, or the voice label when nobody named
    is seen or known to speak it), the face seen talking (`face_id`, may be unnamed), how the choice was made
    (`source`: seen_talking, voice, voicebank, none) and the evidence."""

    speaker: Series[str]
    person_id: Series[str]
    face_id: Series[str] = pa.Field(nullable=True)
    source: Series[str] = pa.Field(isin=["seen_talking", "voice", "voicebank", "none"])
    talking_s: Series[float] = pa.Field(ge=0)
    seen_s: Series[float] = pa.Field(ge=0)
    confidence: Series[float] = pa.Field(ge=0, le=1)


class VoicebankEntries(_Strict):
    """One row per enrolled person of the voicebank: the recordings, the seconds of speech heard in them, and the
    unit-length mean speaker embedding of that speech."""

    person_id: Series[str] = pa.Field(unique=True)
    files: Series[object]
    speech_s: Series[float] = pa.Field(gt=0)
    vector: Series[object]


class FacebankEntries(_Strict):
    """One row per enrolled face image."""

    name: Series[str]
    image: Series[str]
    image_sha256: Series[str]
    embedder: Series[str]
    vector: Series[object]


class Intervals(_Strict):
    """Time a person is seen (`visual`), heard (`speaking`), or both at once (`overlap`), merged: no overlaps
    within (person, kind)."""

    ep_id: Series[str]
    person_id: Series[str]
    kind: Series[str] = pa.Field(isin=["visual", "speaking", "overlap"])
    start_s: Series[float]
    end_s: Series[float]


class ScreenTime(_Strict):
    """The output contract: one row per identity."""

    ep_id: Series[str]
    person_id: Series[str]
    name: Series[str]
    visual_s: Series[float] = pa.Field(ge=0)
    speaking_s: Series[float] = pa.Field(nullable=True)
    overlap_s: Series[float] = pa.Field(nullable=True)
    offscreen_speaking_s: Series[float] = pa.Field(nullable=True)
    appearances: Series[int] = pa.Field(ge=0)
    first_seen_s: Series[float] = pa.Field(nullable=True)
    last_seen_s: Series[float] = pa.Field(nullable=True)
    share_of_episode: Series[float] = pa.Field(ge=0, le=1)


class Words(_Strict):
    """One row per transcribed word (seconds on the container timeline); `segment` is the index of the Whisper
    segment it came from, `speaker` is filled by fusion (missing until then)."""

    ep_id: Series[str]
    start_s: Series[float]
    end_s: Series[float]
    word: Series[str]
    probability: Series[float] = pa.Field(ge=0, le=1)
    segment: Series[int] = pa.Field(ge=0)
    speaker: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check
    def ordered(cls, df) -> Series[bool]:  # noqa: N805
        return df["end_s"] >= df["start_s"]


class EpisodeInfo(BaseModel):
    """The probe's facts that later stages use (one `Episodes` row)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    duration_s: float
    fps: float
    n_frames: int
    video_start_s: float
    has_audio: bool


class AudioInfo(BaseModel):
    """The extracted track: its first sample plays at `start_s` on the container timeline."""

    model_config = ConfigDict(frozen=True)
    start_s: float
    duration_s: float
    sample_rate: int
