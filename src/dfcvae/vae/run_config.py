"""``RunConfig``: the four configs of a run (model, loss, data, training) under a preset name.

A run directory's ``config.json`` holds one; ``RunConfig.from_dict`` rebuilds it and refuses
unknown keys or impossible values with one line naming the option.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from dfcvae.config import TrainConfig, dataclass_from_dict
from dfcvae.data.config import DataConfig
from dfcvae.errors import ConfigError
from dfcvae.vae.loss_config import LossConfig
from dfcvae.vae.model_config import ModelConfig

SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "loss": LossConfig,
    "data": DataConfig,
    "train": TrainConfig,
}


@dataclass
class RunConfig:
    preset: str = "vae-123"
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> RunConfig:
        for part in (self.model, self.loss, self.data, self.train):
            part.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], source: str = "config", *, ranges: bool = False
    ) -> RunConfig:
        """``data`` as a RunConfig, each key's type checked (and its range, with ``ranges``), in
        one line naming ``source``, the section and the key."""
        if not isinstance(data, dict):
            kind = type(data).__name__
            raise ConfigError(f"{source}: expected a table of sections, found a {kind}")
        data = dict(data)
        unknown = set(data) - {"preset", *SECTIONS}
        if unknown:
            raise ConfigError(f"{source}: unknown section(s) {sorted(unknown)}")
        kwargs: dict[str, Any] = {"preset": data.get("preset", "custom")}
        for name, klass in SECTIONS.items():
            where = f"{source} [{name}]"
            kwargs[name] = dataclass_from_dict(klass, data.get(name, {}), where, ranges=ranges)
        return cls(**kwargs)

    def with_absolute_paths(self) -> RunConfig:
        """A copy whose data root, labels file, cache folder and loss-network weights are
        absolute, so that the run directory works from any working directory."""
        data = replace(
            self.data,
            root=absolute(self.data.root),
            labels_file=absolute(self.data.labels_file),
            cache_dir=absolute(self.data.cache_dir),
        )
        weights = self.loss.loss_weights
        loss = replace(
            self.loss, loss_weights=weights if weights == "random" else absolute(weights)
        )
        return replace(self, data=data, loss=loss)

    def with_data_root(self, root: str | Path | None) -> RunConfig:
        """A copy that reads its data from ``root`` (absolute); the same config when None."""
        return self if root is None else replace(self, data=replace(self.data, root=absolute(root)))


def absolute(path: str | Path | None) -> str | None:
    """``path`` resolved to an absolute path (``~`` expanded, against the working directory);
    None stays None."""
    return None if path is None else str(Path(path).expanduser().resolve())
