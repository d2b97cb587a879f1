"""Presets of the private generation benchmark: which data sets it runs and what it adds to every row there.

`cpu` is sized for a 2-core machine (a digits row takes minutes, an MNIST-subset row about 40); `gpu` for one
CUDA device: a wider and deeper network, more epochs and score evaluations, 10,000 samples, and larger private
sets (the full MNIST and Fashion-MNIST from the user's local files, a 20,000-image procedural face set). Every
row keeps its own overrides (objective, privacy, pretraining); a preset only adds to them. The face set is
pretrained on procedural faces of other identities where the digit sets use glyphs; Fashion-MNIST has no public
data here to pretrain on, so its pretraining rows are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fedkd.errors import UserError

NOISE_RULES = ("generator.noise.sigma_max=null", "generator.noise.num_levels=null")


@dataclass(frozen=True)
class Preset:
    datasets: tuple[str, ...]
    extra: tuple[str, ...] = ()                                   # every row, every data set
    per_dataset: dict[str, tuple[str, ...]] = field(default_factory=dict)
    needs_data_root: tuple[str, ...] = ()                         # data sets read from the user's files
    pretraining: dict[str, str | None] = field(default_factory=dict)  # its `pretrain=` per data set (default glyphs)
    results: str = "bench"                                        # results/gen/<results>
    table: str = "private_generation"                             # docs/results/<table>.{csv,md}
    tables: dict[str, str] = field(default_factory=dict)          # a data set's own table instead

    def table_of(self, dataset: str) -> str:
        return self.tables.get(dataset, self.table)


PRESETS = {
    # The MNIST subset: Song & Ermon's noise levels (96 of them at 28×28) with 4 score evaluations each, 40 epochs:
    # a non-private row trains in about 9 and samples 1,000 images in about 7.5 minutes here (docs/private_gen.md).
    "cpu": Preset(("mnist_subset", "digits"),
                  per_dataset={"mnist_subset": (*NOISE_RULES, "sampler.evals_per_level=4", "generator.train.epochs=40"),
                               "digits": ("pretrain.glyphs.fill=0.95",)},
                  tables={"digits": "private_generation_digits"}),
    "gpu": Preset(("mnist", "fashion_mnist", "faces"),
                  extra=("device=cuda", "generator.network.width=64", "generator.network.blocks_per_scale=2",
                         *NOISE_RULES, "generator.train.epochs=200", "generator.train.batch_size=256",
                         "generator.train.per_sample_chunk=256", "sampler.evals_per_level=8", "sampler.batch_size=2000",
                         "evaluation.num_samples=10000", "pretrain.epochs=40", "pretrain.glyphs.count=60000"),
                  per_dataset={"faces": ("dataset.num_identities=1000", "data.resolution=32",
                                         "pretrain.num_identities=2000")},
                  needs_data_root=("mnist", "fashion_mnist"),
                  pretraining={"faces": "procedural_faces", "fashion_mnist": None}, results="bench_gpu",
                  table="private_generation_gpu"),
}


def runs_on(name: str, dataset: str, row: list[str]) -> bool:
    """Whether a row with these overrides runs on `dataset`: not a pretraining row where there is no public data."""
    return "pretrain=glyphs" not in row or PRESETS[name].pretraining.get(dataset, "glyphs") is not None


def preset_overrides(name: str, dataset: str, row: list[str], data_root: str | None) -> list[str]:
    """The row's overrides with the preset's additions for `dataset`; a key the row sets itself keeps the row's
    value (the pretrained-only row's `generator.train.epochs=0` is not the preset's 40)."""
    preset = PRESETS[name]
    if dataset in preset.needs_data_root and not data_root:
        raise UserError(f"--preset {name} reads dataset={dataset} from local files: pass --data-root DIR (the "
                        "folder torchvision's MNIST/FashionMNIST loaders read)")
    if not runs_on(name, dataset, row):
        raise ValueError(f"dataset={dataset} has no public data to pretrain on in --preset {name}")
    pretrain = f"pretrain={preset.pretraining.get(dataset, 'glyphs')}"
    row = [pretrain if o == "pretrain=glyphs" else o for o in row]
    root = [f"dataset.root={data_root}"] if dataset in preset.needs_data_root else []
    own = {o.partition("=")[0] for o in row}
    extra = [o for o in (*preset.extra, *preset.per_dataset.get(dataset, ()))
             if _applies(o, row) and o.partition("=")[0] not in own]
    return [f"dataset={dataset}", *root, *row, *extra]


def _applies(override: str, row: list[str]) -> bool:
    """Score-network and sampler settings only on score-model rows, pretraining settings only where the row
    pretrains with the pretraining they belong to (they are not keys of the other groups)."""
    key = override.partition("=")[0]
    if key.startswith(("generator.", "sampler.")):
        return "generator=dp_merf" not in row
    if key.startswith("pretrain.glyphs."):
        return "pretrain=glyphs" in row
    if key == "pretrain.num_identities":
        return "pretrain=procedural_faces" in row
    if key.startswith("pretrain."):
        return any(o.startswith("pretrain=") for o in row)
    return True
