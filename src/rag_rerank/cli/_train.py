"""``rag-rerank train-data`` and ``rag-rerank train``: build training data, fine-tune a cross-encoder."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from rag_rerank.cli._console import console, err_console, progress_bar, setup_logging


def train_data(
    out: Annotated[Path, typer.Option(help="Output JSONL of training groups.")],
    topics: Annotated[list[Path] | None, typer.Option(help="Topics TSV (qid<TAB>query) of unjudged queries.")] = None,
    corpus_run: Annotated[list[Path] | None, typer.Option(help="JSON runs whose passages form the corpus.")] = None,
    judged_run: Annotated[list[Path] | None, typer.Option(help="JSON runs of judged queries (with --qrels).")] = None,
    qrels: Annotated[list[Path] | None, typer.Option(help="TREC qrels for --judged-run queries.")] = None,
    teacher: Annotated[list[str] | None, typer.Option(help="Teacher KIND[:MODEL][=WEIGHT]: bi, bm25, ce:PATH.")] = None,
    depth: Annotated[int, typer.Option(help="Candidates per unjudged query.")] = 30,
    judged_depth: Annotated[
        int | None, typer.Option(help="Most candidates per judged query (default: every candidate of the runs).")
    ] = None,
    max_queries: Annotated[int | None, typer.Option(help="Use at most this many unjudged queries.")] = None,
    exclude_topics: Annotated[list[Path] | None, typer.Option(help="Topics files whose queries to leave out.")] = None,
    resume: Annotated[bool, typer.Option(help="Keep the groups already in --out and label only the rest.")] = True,
    ray: Annotated[
        bool, typer.Option("--ray", help="Label with a cross-encoder teacher on Ray Data (bulk, an actor pool).")
    ] = False,
    ray_address: Annotated[str | None, typer.Option(help="A running Ray cluster (default with --ray: local).")] = None,
    ray_actors: Annotated[int, typer.Option(help="Teacher actors (--ray).")] = 2,
    seed: Annotated[int, typer.Option()] = 42,
    log_level: Annotated[str, typer.Option()] = "INFO",
) -> None:
    """Label candidates with an offline teacher (distillation data), plus judged groups.

    Groups are appended to --out as they are labelled; re-running the same command after an
    interruption continues where it stopped (--no-resume starts over)."""
    import json
    import random

    from rag_core.datasets import corpus_from_runs, read_qrels, read_run_json, read_topics
    from rag_core.embeddings import load_embedder
    from rag_core.training import training_keys, training_row
    from rag_core.training._distill import iter_distillation_groups
    from rag_core.training._teachers import parse_teacher

    setup_logging(log_level)
    specs = [parse_teacher(t) for t in (teacher or ["bi"])]
    corpus, _ = corpus_from_runs(corpus_run or [])
    excluded: set[str] = set()
    for path in exclude_topics or []:
        excluded |= {q.strip().lower() for q in read_topics(path).values()}
    judged_lists = [read_run_json(p) for p in judged_run or []]
    all_qrels: dict[str, dict[str, int]] = {}
    for path in qrels or []:
        all_qrels.update(read_qrels(path))
    judged_qids = set(all_qrels)
    queries: dict[str, str] = {}
    for path in topics or []:
        for qid, text in read_topics(path).items():
            if qid not in judged_qids and text.strip().lower() not in excluded:
                queries[f"{path.stem}:{qid}"] = text
    keys = sorted(queries)  # a seeded order: a partial file is a fair sample of the whole
    random.Random(seed).shuffle(keys)
    queries = {k: queries[k] for k in keys[:max_queries]}
    if not corpus:
        err_console.print("[red]--corpus-run is required (the passages to retrieve from)[/]")
        raise typer.Exit(2)
    pair_scorer = None
    if ray or ray_address:
        if len(specs) != 1 or specs[0].kind != "ce":
            err_console.print("[red]--ray labels with one cross-encoder teacher (--teacher ce:MODEL)[/]")
            raise typer.Exit(2)
        from rag_core.engines._ray_data import score_pairs_ray

        teacher_model = str(specs[0].model)
        weight = specs[0].weight

        def pair_scorer(pairs: list[tuple[str, str]]) -> Any:
            options = {"backend": "onnx"}
            return weight * score_pairs_ray(
                teacher_model, pairs, actors=ray_actors, engine_options=options, address=ray_address
            )

    done = training_keys(out) if resume else set()
    if done:
        err_console.print(f"resuming: {len(done)} groups already in {out}")
    written = 0
    with progress_bar() as bar, out.open("a" if resume else "w", encoding="utf-8") as handle:
        task = bar.add_task("labelling", total=None)
        for key, group in iter_distillation_groups(
            teachers=specs,
            corpus=corpus,
            queries=queries,
            judged_runs=judged_lists,
            qrels=all_qrels,
            depth=depth,
            judged_depth=judged_depth,
            embedder_factory=load_embedder,
            skip=done,
            progress=lambda finished, total: bar.update(task, completed=finished, total=total),
            pair_scorer=pair_scorer,
        ):
            handle.write(json.dumps(training_row(group, key), ensure_ascii=False) + "\n")
            handle.flush()
            written += 1
    console.print(f"wrote {written} groups to {out} ({len(done) + written} in all)")


def train(
    output: Annotated[Path, typer.Option(help="Folder for the trained checkpoint.")],
    data: Annotated[list[Path] | None, typer.Option(help="Training JSONL: pairs or groups (repeatable).")] = None,
    qrels: Annotated[list[Path] | None, typer.Option(help="TREC qrels (with --run) as training data.")] = None,
    run: Annotated[list[Path] | None, typer.Option(help="JSON runs with passage text, for --qrels queries.")] = None,
    base_model: Annotated[
        str, typer.Option(help="Encoder or cross-encoder to start from.")
    ] = "builtin:all-MiniLM-L6-v2",
    loss: Annotated[str, typer.Option(help="bce, listwise, margin_mse or mse.")] = "listwise",
    epochs: Annotated[float, typer.Option()] = 1.0,
    learning_rate: Annotated[float, typer.Option()] = 3e-5,
    head_learning_rate: Annotated[
        float | None, typer.Option(help="Learning rate of the pooler and classifier head (default: --learning-rate).")
    ] = None,
    group_size: Annotated[int, typer.Option(help="Passages per query in a step.")] = 8,
    groups_per_batch: Annotated[int, typer.Option(help="Queries per step.")] = 4,
    foreign_negatives: Annotated[
        int, typer.Option(help="Relevant passages of random other queries added as negatives.")
    ] = 0,
    inbatch_negatives: Annotated[
        int, typer.Option(help="Best passages of the other queries in the batch added as negatives.")
    ] = 2,
    judged_repeat: Annotated[
        int, typer.Option(help="Repeat judged groups (--qrels/--run, and labelled --data groups) this many times.")
    ] = 1,
    temperature: Annotated[float, typer.Option(help="Teacher softmax temperature (listwise).")] = 1.0,
    teacher_scale: Annotated[float, typer.Option(help="Multiply teacher scores (margin_mse).")] = 1.0,
    label_weight: Annotated[float, typer.Option(help="Share of the labels in the listwise target.")] = 0.5,
    relevant_grade: Annotated[float, typer.Option(help="Grade from which a passage counts as relevant.")] = 2.0,
    max_length: Annotated[int, typer.Option()] = 256,
    warmup_ratio: Annotated[float, typer.Option()] = 0.1,
    max_steps: Annotated[int | None, typer.Option()] = None,
    save_steps: Annotated[int, typer.Option()] = 500,
    seed: Annotated[int, typer.Option()] = 42,
    threads: Annotated[int | None, typer.Option(help="torch threads (default: physical cores).")] = None,
    save_dtype: Annotated[str, typer.Option(help="float32 or float16 for the final weights.")] = "float32",
    freeze_embeddings: Annotated[
        bool, typer.Option(help="Keep the word embeddings fixed (faster steps; keeps a teacher's vocabulary).")
    ] = False,
    resume: Annotated[bool, typer.Option(help="Continue from the latest checkpoint in --output.")] = True,
    log_level: Annotated[str, typer.Option()] = "INFO",
) -> None:
    """Fine-tune a cross-encoder (BCE, listwise KL or MarginMSE) and save a Hugging Face checkpoint."""
    from rag_core.datasets import read_qrels, read_run_json
    from rag_core.training import TrainConfig, groups_from_trec, read_training_jsonl, train_cross_encoder
    from rag_core.training._losses import LossName

    setup_logging(log_level)
    if loss not in ("bce", "listwise", "margin_mse", "mse"):
        err_console.print(f"[red]unknown loss {loss!r}: use bce, listwise, margin_mse or mse[/]")
        raise typer.Exit(2)
    groups = []
    for path in data or []:
        for group in read_training_jsonl(path):
            groups.extend([group] * (max(1, judged_repeat) if group.labels is not None else 1))
    if qrels or run:
        if not (qrels and run):
            err_console.print("[red]--qrels and --run go together[/]")
            raise typer.Exit(2)
        judgments: dict[str, dict[str, int]] = {}
        for path in qrels:
            judgments.update(read_qrels(path))
        trec_groups = groups_from_trec([read_run_json(p) for p in run], judgments)
        groups.extend(trec_groups * max(1, judged_repeat))
    if not groups:
        err_console.print("[red]no training data: give --data and/or --qrels with --run[/]")
        raise typer.Exit(2)
    loss_name: LossName = loss  # type: ignore[assignment]
    config = TrainConfig(
        base_model=base_model,
        output_dir=str(output),
        loss=loss_name,
        epochs=epochs,
        learning_rate=learning_rate,
        head_learning_rate=head_learning_rate,
        group_size=group_size,
        groups_per_batch=groups_per_batch,
        foreign_negatives=foreign_negatives,
        inbatch_negatives=inbatch_negatives,
        temperature=temperature,
        teacher_scale=teacher_scale,
        label_weight=label_weight,
        relevant_grade=relevant_grade,
        max_length=max_length,
        warmup_ratio=warmup_ratio,
        max_steps=max_steps,
        save_steps=save_steps,
        seed=seed,
        threads=threads,
        save_dtype=save_dtype,
        freeze_embeddings=freeze_embeddings,
        sources=[str(p) for p in [*(data or []), *(qrels or []), *(run or [])]],
        command="rag-rerank " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    )
    with progress_bar() as bar:
        task = bar.add_task("training", total=None)
        result = train_cross_encoder(
            groups,
            config,
            resume=resume,
            progress=lambda step, total, value: bar.update(
                task, completed=step, total=total, description=f"training loss {value:.4f}"
            ),
        )
    console.print(
        f"saved {result.output_dir} after {result.steps} steps ({result.pairs} pairs, "
        f"{result.seconds / 60:.1f} min, {result.pairs / max(result.seconds, 1e-9):.1f} pairs/s)"
    )


def student_init(
    output: Annotated[Path, typer.Option(help="Folder for the student checkpoint (untrained copy of the layers).")],
    layers: Annotated[str, typer.Option(help="Comma-separated teacher layers to keep, e.g. 0,2,4,6,8,10.")],
    teacher: Annotated[
        str, typer.Option(help="Teacher: a transformers folder, or an int8 ONNX BERT (dequantised first).")
    ] = "builtin:quality",
    log_level: Annotated[str, typer.Option()] = "INFO",
) -> None:
    """Start a student from a subset of a teacher's layers (embeddings, layers, pooler and head copied).

    An ONNX-only teacher (such as builtin:quality, the int8 ms-marco-MiniLM-L-12-v2) is first
    dequantised into a float32 transformers checkpoint (kept beside the output as OUTPUT.teacher)."""
    from rag_core._hub import resolve_model_dir
    from rag_core.models._dequantize import dequantize_onnx_bert, layer_subset

    setup_logging(log_level)
    try:
        keep = [int(x) for x in layers.split(",") if x.strip()]
    except ValueError as exc:
        err_console.print(f"[red]--layers must be comma-separated integers, got {layers!r}[/]")
        raise typer.Exit(2) from exc
    folder = resolve_model_dir(teacher)
    if not (folder / "config.json").is_file():
        dequantised = output.with_name(output.name + ".teacher")
        if not (dequantised / "config.json").is_file():
            dequantize_onnx_bert(folder / "model.onnx", dequantised)
        folder = dequantised
    layer_subset(folder, keep, output)
    console.print(
        f"student with teacher layers {keep} saved to {output}; train it with rag-rerank train --base-model {output}"
    )
