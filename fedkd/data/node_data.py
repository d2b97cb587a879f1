"""One client's split as a file of its own: what a SuperNode holds in a deployment.

`fedkd-deploy` writes `partition-<i>.pt` per client (train/test images after the LR transform, the HR
versions, labels and the data set's shape; `--write-partitions DIR` writes them for copying to other
hosts); a SuperNode started with `--node-config "... data-file=PATH"` loads only that file, never the
whole data set.
"""

from __future__ import annotations

from pathlib import Path

import torch

from fedkd.data.federated import ClientData, FederationSpec, data_shape, load_client_data
from fedkd.data.image_data import DataShape
from fedkd.errors import UserError
from fedkd.protocol.run_config import DATA_FILE, NUM_PARTITIONS, PARTITION_ID


def write_partition(spec: FederationSpec, partition_id: int, path: Path) -> DataShape:
    """Write client `partition_id`'s data to `path`; returns the shape the ServerApp needs (data-shape)."""
    shape = data_shape(spec)
    save_partition(load_client_data(spec, partition_id), shape, path)
    return shape


def save_partition(data: ClientData, shape: DataShape, path: Path) -> None:
    torch.save({"partition_id": data.partition_id, "shape": shape,
                **{k: getattr(data, k) for k in ("train_x", "train_y", "test_x", "test_y", "train_hr", "test_hr")}},
               path)


def read_partition(path: str, partition_id: int) -> tuple[ClientData, DataShape]:
    """The partition file of client `partition_id`, checked: readable, complete, and that client's."""
    if not Path(path).is_file():
        raise UserError(f"{DATA_FILE}={path} does not exist; give each SuperNode the path of its own partition file "
                        f"(--node-config \"{PARTITION_ID}=I {NUM_PARTITIONS}=N {DATA_FILE}=PATH\")")
    rewrite = "write it again with fedkd-site-data or fedkd-deploy --write-partitions"
    try:
        saved = torch.load(path, weights_only=True)
        shape = tuple(int(v) for v in saved.pop("shape"))
        data = ClientData(**saved)
    except Exception as err:  # torch.load raises many kinds on a damaged file
        raise UserError(f"{DATA_FILE}={path} is not a readable partition file ({type(err).__name__}); "
                        f"{rewrite}") from None
    if data.partition_id != partition_id:
        raise UserError(f"{DATA_FILE}={path} holds partition {data.partition_id}, but this SuperNode is "
                        f"{PARTITION_ID}={partition_id}; give it its own file or fix its --node-config")
    return data, (shape[0], shape[1], shape[2])
