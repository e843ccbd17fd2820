"""The BentoML model store: save a trained model with its metadata, list, promote.

The store lives at `ModelStoreSettings.home` (`BENTOML_HOME`, default `.cache/bentoml`);
`open_store` points BentoML there before first use, so tests use a temporary store. The
champion of each model kind is recorded in `<home>/champions.json`, which the serving
processes read at start.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.training.config import ModelStoreSettings

CHAMPIONS_FILE = "champions.json"
MODEL_KINDS = ("fraud", "churn")


class StoreError(ValueError):
    """A model tag or kind the store does not know."""


@dataclass(frozen=True)
class StoredModel:
    tag: str
    kind: str
    created_at: datetime
    metadata: dict[str, Any]
    champion: bool


def open_store(settings: ModelStoreSettings | None = None) -> Path:
    """Point BentoML at the configured store; returns its home."""
    settings = settings or ModelStoreSettings()
    home = settings.home.expanduser().resolve()
    (home / "models").mkdir(parents=True, exist_ok=True)
    os.environ["BENTOML_HOME"] = str(home)
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    BentoMLContainer.bentoml_home.set(str(home))
    BentoMLContainer.model_store.set(ModelStore(str(home / "models")))
    return home


def _check_kind(kind: str) -> None:
    if kind not in MODEL_KINDS:
        raise StoreError(f"model kind must be one of {list(MODEL_KINDS)}, got {kind!r}")


def save_model(kind: str, booster, metadata: dict[str, Any]) -> str:
    """Save an XGBoost booster as `ecap-<kind>` with `metadata`; returns its tag."""
    _check_kind(kind)
    import bentoml

    model = bentoml.xgboost.save_model(
        f"ecap-{kind}",
        booster,
        labels={"kind": kind},
        metadata=_without_nulls(metadata),
        signatures={"predict": {"batchable": True}},
    )
    return str(model.tag)


def _without_nulls(value: Any) -> Any:
    # BentoML metadata takes basic types only; an absent value (e.g. no Delta version for a
    # Parquet input) is left out rather than stored as null.
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_without_nulls(v) for v in value if v is not None]
    return value


def load_model(tag: str):
    """The booster and metadata of the model `tag`."""
    import bentoml

    try:
        model = bentoml.models.get(tag)
    except bentoml.exceptions.NotFound as error:
        raise StoreError(f"no model {tag!r} in the store") from error
    return bentoml.xgboost.load_model(model), dict(model.info.metadata)


def champions(home: Path) -> dict[str, str]:
    path = home / CHAMPIONS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def list_models(home: Path, kind: str | None = None) -> list[StoredModel]:
    """Every ECAP model in the store, newest first."""
    import bentoml

    crowned = set(champions(home).values())
    out = []
    for model in bentoml.models.list():
        model_kind = model.info.labels.get("kind")
        if model_kind not in MODEL_KINDS or (kind and model_kind != kind):
            continue
        out.append(
            StoredModel(
                tag=str(model.tag),
                kind=model_kind,
                created_at=model.info.creation_time,
                metadata=dict(model.info.metadata),
                champion=str(model.tag) in crowned,
            )
        )
    return sorted(out, key=lambda m: m.created_at, reverse=True)


def promote(home: Path, tag: str) -> StoredModel:
    """Make the model `tag` the champion of its kind."""
    import bentoml

    try:
        model = bentoml.models.get(tag)
    except bentoml.exceptions.NotFound as error:
        raise StoreError(f"no model {tag!r} in the store") from error
    kind = model.info.labels.get("kind")
    _check_kind(kind or "")
    current = champions(home)
    current[kind] = str(model.tag)
    path = home / CHAMPIONS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(current, indent=2, sort_keys=True))
    tmp.replace(path)
    return StoredModel(
        str(model.tag), kind, model.info.creation_time, dict(model.info.metadata), True
    )


def champion_tag(home: Path, kind: str) -> str | None:
    _check_kind(kind)
    return champions(home).get(kind)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
