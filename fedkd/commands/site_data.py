"""`fedkd-site-data`: turn a site's own face images into its SuperNode's partition file, on the site.

    fedkd-site-data IMAGES --labels LABELS --partition-id I --out FILE [OVERRIDES...]

IMAGES is `root/<identity>/<image>` of this site only; LABELS the federation's identity list (one per
line, the same file at every site). OVERRIDES are the run's Hydra overrides (resolution, LR transform,
test fraction, seed, number of clients); `dataset=imagefolder` is implied. Prints the SuperNode's node
config and the `data-shape` for `flwr run`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fedkd.app.experiment_config import load_federated
from fedkd.commands.skeleton import user_errors
from fedkd.data.site_data import read_label_list, write_site_partition
from fedkd.deploy.cluster import node_config_line
from fedkd.errors import UserError
from fedkd.protocol.run_config import DATA_SHAPE


def make_site_partition(images: Path, labels_file: Path, partition_id: int, out: Path,
                        overrides: list[str]) -> None:
    dataset = [] if any(o.startswith("dataset=") for o in overrides) else ["dataset=imagefolder"]
    config = load_federated([*dataset, *overrides, f"dataset.root={images}"])
    num_clients = config.simulation.num_clients
    if not 0 <= partition_id < num_clients:
        raise UserError(f"--partition-id {partition_id} is outside 0..{num_clients - 1} "
                        f"(simulation.num_clients={num_clients}); set simulation.num_clients to the number of sites")
    labels = read_label_list(labels_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    shape = write_site_partition(config.federation(), images, labels, partition_id, out)
    print(f"wrote partition {partition_id} of {num_clients} to {out}")
    print(f"SuperNode: --node-config '{node_config_line(partition_id, num_clients, out)}'")
    print(f"flwr run: {DATA_SHAPE}='{','.join(map(str, shape))}'")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fedkd-site-data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", type=Path, help="this site's root/<identity>/<image> folder")
    parser.add_argument("--labels", type=Path, required=True, help="the federation's identities, one per line")
    parser.add_argument("--partition-id", type=int, required=True, help="this site's SuperNode index")
    parser.add_argument("--out", type=Path, required=True, help="the partition file to write")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_intermixed_args(argv)  # IMAGES first, the overrides after the options
    with user_errors():
        make_site_partition(args.images.resolve(), args.labels, args.partition_id, args.out.resolve(),
                            args.overrides)
