"""Producing ONNX files for a checkpoint: export (torch, once), graph fusion, int8 quantisation.

Everything is cached: next to the model when its folder is writable (``onnx/rag-rerank/``),
else under ``$RAG_RERANK_CACHE`` (default ``~/.cache/rag-rerank/onnx``). Files are written to a
temporary name and renamed, so concurrent processes never see half a file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from rag_core._errors import ModelLoadError

__all__ = ["cache_dir_for", "ensure_onnx", "fuse_graph", "quantize_int8"]

logger = logging.getLogger(__name__)

#: Bump when the export recipe changes, so stale caches are not reused.
RECIPE_VERSION = "1"
_FUSABLE = {"bert", "roberta", "xlm-roberta", "electra", "distilbert", "camembert"}


def cache_dir_for(folder: Path) -> Path:
    """Where the ONNX files of the checkpoint in ``folder`` live."""
    local = folder / "onnx" / "rag-rerank"
    try:
        local.mkdir(parents=True, exist_ok=True)
        probe = local / ".write-test"
        probe.touch()
        probe.unlink()
        return local
    except OSError:
        pass
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    stamp = "|".join(f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in weights)
    digest = hashlib.sha1(f"{folder.resolve()}|{stamp}".encode(), usedforsecurity=False).hexdigest()[:16]
    root = Path(os.environ.get("RAG_RERANK_CACHE", Path.home() / ".cache" / "rag-rerank")) / "onnx" / digest
    root.mkdir(parents=True, exist_ok=True)
    return root


def _atomic(target: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=target.stem + ".", suffix=".tmp.onnx", dir=target.parent)
    os.close(fd)
    return Path(name)


def export_checkpoint(folder: Path, target: Path, config: dict[str, Any], *, attention: str = "eager") -> Path:
    """Export the checkpoint with ``torch.onnx.export`` (TorchScript exporter, opset 17).

    Eager attention (the default) is used so that onnxruntime's optimiser recognises and fuses
    the attention pattern; ``attention="sdpa"`` gives the plain export that the ablation measures.
    """
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a dependency, but may be stripped
        raise ModelLoadError(str(folder), "exporting to ONNX needs torch and transformers") from exc
    from rag_core.engines._loading import load_sequence_classifier

    model = load_sequence_classifier(folder, str(folder), attn_implementation=attention, dtype=torch.float32).eval()
    names = ["input_ids", "attention_mask"]
    if config.get("model_type") not in ("distilbert",) and config.get("type_vocab_size", 2) > 0:
        names.append("token_type_ids")
    # token type 0 (XLM-RoBERTa has one type only) and an ordinary token id (not padding)
    token = min(int(config.get("vocab_size", 100)) - 1, 5)
    dummy = {
        "input_ids": torch.full((2, 16), token, dtype=torch.long),
        "attention_mask": torch.ones((2, 16), dtype=torch.long),
        "token_type_ids": torch.zeros((2, 16), dtype=torch.long),
    }
    dummy = {n: dummy[n] for n in names}
    tmp = _atomic(target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (),
            str(tmp),
            kwargs=dummy,
            input_names=names,
            output_names=["logits"],
            dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    tmp.replace(target)
    logger.info("exported %s to %s", folder, target)
    return target


def fuse_graph(source: Path, target: Path, config: dict[str, Any]) -> Path:
    """Fuse attention, layer norms and GELU with ``onnxruntime.transformers.optimizer``.

    Returns ``source`` unchanged when the architecture is not one the optimiser knows.
    """
    if config.get("model_type") not in _FUSABLE:
        return source
    from onnxruntime.transformers import optimizer

    try:
        optimised = optimizer.optimize_model(
            str(source),
            model_type="bert",
            num_heads=int(config.get("num_attention_heads", 0)),
            hidden_size=int(config.get("hidden_size", 0)),
            opt_level=1,
        )
    except Exception as exc:
        logger.warning("graph fusion failed for %s (%s); using the unfused graph", source, exc)
        return source
    stats = optimised.get_fused_operator_statistics()
    tmp = _atomic(target)
    optimised.save_model_to_file(str(tmp))
    tmp.replace(target)
    logger.info("fused %s: %s", target.name, {k: v for k, v in stats.items() if v})
    return target


def quantize_int8(source: Path, target: Path) -> Path:
    """Dynamic int8 quantisation of the weights (activations quantised at run time)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = _atomic(target)
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))  # the quantiser logs every tensor (and advice) on the root logger
    try:
        quantize_dynamic(
            str(source),
            str(tmp),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
    tmp.replace(target)
    logger.info("quantised %s to int8: %s", source.name, target)
    return target


def ensure_onnx(folder: Path, config: dict[str, Any], *, quantize: bool, provided: Path | None = None) -> Path:
    """The ONNX file to run for this checkpoint, creating (and caching) it when needed.

    ``provided`` is an fp32 ``model.onnx`` that shipped with the model (hub ``onnx/`` folder);
    it is used instead of exporting. Either way the graph is fused, then quantised if asked.
    """
    cache = cache_dir_for(folder)
    fused = cache / f"model.fused.v{RECIPE_VERSION}.onnx"
    final = cache / f"model.fused.int8.v{RECIPE_VERSION}.onnx" if quantize else fused
    if final.is_file():
        return final
    if not fused.is_file():
        source = provided
        if source is None:
            source = cache / f"model.v{RECIPE_VERSION}.onnx"
            if not source.is_file():
                export_checkpoint(folder, source, config)
        result = fuse_graph(source, fused, config)
        if result != fused:  # not fusable: keep the plain graph under the fused name
            import shutil

            tmp = _atomic(fused)
            shutil.copyfile(result, tmp)
            tmp.replace(fused)
    if quantize:
        quantize_int8(fused, final)
    return final
