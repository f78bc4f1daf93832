"""Typed settings: one config per stage (`configs`), the models section, a root and a model folder.

Precedence (highest first): CLI / flow parameters > environment (`SCREENALYTICS_*`) > profile
(`config/profiles/<name>.yaml`) > stage YAML (`config/stages/<stage>.yaml`) > the defaults in `configs`.
Environment keys: `SCREENALYTICS_ROOT`, `SCREENALYTICS_MODEL_DIR`, `SCREENALYTICS_PROFILE`, and
`SCREENALYTICS_<SECTION>__<FIELD>` (e.g. `SCREENALYTICS_DETECT__SAMPLE_FPS=3`, `SCREENALYTICS_MODELS__THREADS=1`).
Thresholds that depend on the chosen model are resolved here, once (`MODEL_DEFAULTS`).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from screenalytics.tasks.configs import (
    MODEL_DEFAULTS,
    STAGES,
    AsdConfig,
    AudioConfig,
    ClusterConfig,
    DetectConfig,
    DiarizeConfig,
    EmbedConfig,
    FaceCropsConfig,
    FusionConfig,
    GuardrailsConfig,
    LimitsConfig,
    MatchConfig,
    ModelsConfig,
    ScreenTimeConfig,
    ShotsConfig,
    TrackConfig,
    TranscribeConfig,
    VadConfig,
)

log = logging.getLogger(__name__)
ENV_PREFIX = "SCREENALYTICS_"


class Settings(BaseModel):
    """Root settings: where artifacts and models live, which models run, plus every stage's config."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    root: str = Field("./data", description="Artifact root URL (`./data`, `file:///...`, `s3://bucket/prefix`).")
    model_dir: str = Field("~/.cache/screenalytics/models", description="Local model cache folder.")
    profile: str = Field("balanced", description="Performance profile name.")
    models: ModelsConfig = ModelsConfig()
    shots: ShotsConfig = ShotsConfig()
    detect: DetectConfig = DetectConfig()
    facecrops: FaceCropsConfig = FaceCropsConfig()
    track: TrackConfig = TrackConfig()
    embed: EmbedConfig = EmbedConfig()
    cluster: ClusterConfig = ClusterConfig()
    match: MatchConfig = MatchConfig()
    screentime: ScreenTimeConfig = ScreenTimeConfig()
    guardrails: GuardrailsConfig = GuardrailsConfig()
    audio: AudioConfig = AudioConfig()
    vad: VadConfig = VadConfig()
    diarize: DiarizeConfig = DiarizeConfig()
    transcribe: TranscribeConfig = TranscribeConfig()
    asd: AsdConfig = AsdConfig()
    fusion: FusionConfig = FusionConfig()
    limits: LimitsConfig = LimitsConfig()

    @model_validator(mode="before")
    @classmethod
    def _resolve_model_defaults(cls, data: Any) -> Any:
        """Fill every model-dependent threshold left unset with the chosen model's default."""
        if not isinstance(data, Mapping):
            return data
        tree = {key: dict(value) if isinstance(value, Mapping) else value for key, value in data.items()}
        models = tree.get("models")
        if models is not None and not isinstance(models, Mapping | ModelsConfig):
            return tree  # not a section: the field's own validation names `models`
        try:
            chosen = ModelsConfig.model_validate(models) if isinstance(models, Mapping) else models or ModelsConfig()
        except ValidationError:  # left for the field's own validation, which names `models.<field>`
            return tree
        for field, per_model in MODEL_DEFAULTS.items():
            for dotted, value in per_model[getattr(chosen, field)].items():
                section, name = dotted.split(".")
                current = tree.get(section)
                if isinstance(current, BaseModel):
                    if getattr(current, name) is None:
                        tree[section] = current.model_copy(update={name: value})
                    continue
                if current is not None and not isinstance(current, Mapping):
                    continue  # `cluster: 3` is no section: its validation says so
                current = dict(current or {})
                if current.get(name) is None:
                    current[name] = value
                tree[section] = current
        return tree


def config_dir() -> Path:
    return Path(str(resources.files("screenalytics.config")))


def profiles() -> list[str]:
    return sorted(p.stem for p in (config_dir() / "profiles").glob("*.yaml"))


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def yaml_value(raw: str, where: str) -> Any:
    """A setting's value written as YAML (`3`, `true`, `[1, 2]`, `text`), or a clear error naming `where`."""
    try:
        return yaml.safe_load(raw)
    except Exception as exc:  # noqa: BLE001 - PyYAML's constructors raise many kinds (KeyError for `!!bool maybe`)
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{where}={raw!r}: not a value ({reason}); write a number, true/false, a word, or a YAML "
                         "list such as [1, 2]") from None


def _env_layer(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings given as `SCREENALYTICS_*` variables, and which variable gave each dotted setting."""
    layer: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        dotted = key[len(ENV_PREFIX):].lower().replace("__", ".")
        head = dotted.split(".")[0]
        if head in STAGES or dotted in Settings.model_fields:
            if head not in STAGES and not raw.strip():
                raise ValueError(f"{key} is set but empty: give it a value (e.g. {key}="
                                 f"{Settings.model_fields[dotted].default}) or unset it")
            _set_dotted(layer, dotted, yaml_value(raw, key) if head in STAGES else raw)
            sources[dotted] = key
        elif "." in dotted or any(dotted.startswith(f"{stage}_") for stage in STAGES):  # a mistyped setting
            log.warning("ignoring %s: not a setting (use SCREENALYTICS_ROOT, SCREENALYTICS_<STAGE>__<FIELD>, ...)",
                        key)
    return layer, sources


def _dotted_keys(tree: Mapping[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in tree.items():
        name = f"{prefix}{key}"
        keys |= _dotted_keys(value, f"{name}.") if isinstance(value, Mapping) else {name}
    return keys


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build the effective settings. `overrides` holds dotted keys (`"detect.sample_fps": 3`) or nested dicts."""
    environ = os.environ if environ is None else environ
    cli: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(cli, key, value)
    env, env_sources = _env_layer(environ)
    sources = {k: v for k, v in env_sources.items() if k not in _dotted_keys(cli)}  # what --set left to the env
    profile = cli.get("profile") or env.get("profile") or Settings.model_fields["profile"].default
    if profile not in profiles():  # a name, never a path: `--profile ../x` must not load any YAML file
        origin = f" (from {sources['profile']})" if "profile" in sources else ""
        raise ValueError(f"Unknown profile {profile!r}{origin}; choose one of: {', '.join(profiles())}")
    profile_path = config_dir() / "profiles" / f"{profile}.yaml"
    tree: dict[str, Any] = {name: _read_yaml(config_dir() / "stages" / f"{name}.yaml") for name in STAGES}
    for layer in (_read_yaml(profile_path), env, cli):
        tree = _merge(tree, layer)
    tree["profile"] = profile
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        raise ValueError(describe_errors(exc, sources)) from None


def describe_errors(exc: ValidationError, sources: Mapping[str, str] | None = None) -> str:
    """A settings validation error as one line per setting: its dotted name (and the environment variable that
    gave it, from `sources`), what is wrong, what is allowed."""
    lines = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"])
        if name in (sources or {}):
            name = f"{name} (from {sources[name]})"
        section = STAGES.get(str(error["loc"][0])) if error["loc"] else None
        if error["type"] == "extra_forbidden":
            known = ", ".join(section.model_fields) if section else ", ".join(Settings.model_fields)
            lines.append(f"setting {name}: unknown (the settings there are: {known})")
        else:
            lines.append(f"setting {name}: {error['msg'].lower()} (got {error.get('input')!r})")
    return "invalid settings: " + "; ".join(lines) + " (docs/configuration.md lists every setting and its range)"


def stage_yaml(section: str) -> str:
    """The text of `config/stages/<section>.yaml`: a header, then every field of the section's config as
    `# description` and `field: default` (the files are generated from `configs`: `.ci/stage_yaml.py --write`)."""
    cls = STAGES[section]
    what = "settings" if section == "models" else "stage settings"
    lines = [f"# {section} {what} (docs/configuration.md). Profiles, SCREENALYTICS_{section.upper()}__<FIELD> and CLI "
             "flags override these."]
    for name, field in cls.model_fields.items():
        lines.append(f"# {field.description}")
        lines.append(yaml.safe_dump({name: field.default}, default_flow_style=False, width=10_000).rstrip("\n"))
    return "\n".join(lines) + "\n"


def effective_config(settings: Settings) -> dict[str, Any]:
    return settings.model_dump(mode="json")
