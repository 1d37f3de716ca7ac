"""``rag-rerank eval`` end to end: BEIR folder, JSON run, TREC run + passages."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rag_rerank.cli import build_app

app = build_app()
runner = CliRunner()


@pytest.fixture
def beir_folder(tmp_path):
    corpus = {
        "d1": "Photosynthesis converts light energy into chemical energy in plants.",
        "d2": "The stock market closed higher on Friday.",
        "d3": "Plants use chlorophyll to capture sunlight for photosynthesis.",
        "d4": "Volcanoes erupt when magma reaches the surface.",
        "d5": "Magma is molten rock beneath the earth's crust.",
        "d6": "Football is played by two teams of eleven players.",
    }
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": k, "title": "", "text": v}) for k, v in corpus.items())
    )
    (folder / "queries.jsonl").write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {"_id": "q1", "text": "how do plants make energy from light"},
                {"_id": "q2", "text": "what is magma in volcanoes"},
            ]
        )
    )
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td3\t1\nq2\td5\t2\nq2\td4\t1\n"
    )
    return folder


def test_eval_on_a_beir_folder_prints_before_and_after(beir_folder, tiny_model_dir):
    result = runner.invoke(
        app,
        [
            "eval",
            "--beir",
            str(beir_folder),
            "--model",
            str(tiny_model_dir),
            "--backend",
            "torch",
            "--depth",
            "5",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    for part in ("first_stage", "reranked"):
        assert set(report[part]) == {"ndcg@10", "mrr@10", "p@1", "recall@5"}
        assert all(0.0 <= v <= 1.0 for v in report[part].values())
    assert report["queries"] == 2 and report["pairs"] > 0
    assert report["per_query"]["wins"] + report["per_query"]["losses"] + report["per_query"]["ties"] == 2
    assert report["reranker"]["model"] == str(tiny_model_dir)


def test_eval_with_a_trec_run_and_passage_file(tmp_path, tiny_model_dir):
    (tmp_path / "run.trec").write_text("q1 Q0 d1 1 9.0 t\nq1 Q0 d2 2 8.0 t\n")
    (tmp_path / "topics.tsv").write_text("q1\tplants and light\n")
    (tmp_path / "passages.tsv").write_text("d1\tPlants need light.\nd2\tCars need fuel.\n")
    (tmp_path / "qrels.txt").write_text("q1 0 d1 2\nq1 0 d2 0\n")
    result = runner.invoke(
        app,
        [
            "eval",
            "--run",
            str(tmp_path / "run.trec"),
            "--qrels",
            str(tmp_path / "qrels.txt"),
            "--topics",
            str(tmp_path / "topics.tsv"),
            "--passages",
            str(tmp_path / "passages.tsv"),
            "--model",
            str(tiny_model_dir),
            "--backend",
            "torch",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["first_stage"]["ndcg@10"] == pytest.approx(1.0)


def test_eval_without_inputs_is_a_usage_error():
    result = runner.invoke(app, ["eval"])
    assert result.exit_code == 2


@pytest.mark.data
def test_eval_smoke_on_two_dl19_queries(shared_data, tiny_model_dir):
    folder = shared_data / "trec-dl19-passage"
    result = runner.invoke(
        app,
        [
            "eval",
            "--run",
            str(folder / "runs" / "BM25.top100.json"),
            "--qrels",
            str(folder / "qrels.dl19-passage.txt"),
            "--queries",
            "2",
            "--depth",
            "20",
            "--model",
            str(tiny_model_dir),
            "--backend",
            "onnx",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["queries"] == 2 and report["pairs"] == 40
    assert report["reranker"]["backend"] == "onnx"
