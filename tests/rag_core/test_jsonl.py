from __future__ import annotations

import pytest

from rag_core import InvalidInputError
from rag_core._jsonl import iter_jsonl
from rag_core.datasets import read_passages, read_topics


def test_rows_keep_their_line_numbers_and_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "a", "text": "x"}\n\n{"id": "b", "text": "y"}\n', encoding="utf-8")
    assert [(n, r["id"]) for n, r in iter_jsonl(path)] == [(1, "a"), (3, "b")]


@pytest.mark.parametrize(("line", "message"), [("{not json", "invalid JSON"), ('["a list"]', "expected a JSON object")])
def test_bad_lines_name_the_file_and_line(tmp_path, line, message):
    path = tmp_path / "queries.jsonl"
    path.write_text('{"_id": "1", "text": "fine"}\n' + line + "\n", encoding="utf-8")
    for reader in (read_topics, read_passages):
        with pytest.raises(InvalidInputError, match=rf"queries.jsonl:2: {message}"):
            reader(path)


def test_tsv_passages_keep_every_tab_and_unquote_a_quoted_field(tmp_path):
    path = tmp_path / "passages.tsv"
    path.write_text(
        "d1\tplain text\n"
        'd2\t"a table:\tcol 1\tcol 2 with ""quotes"""\n'
        "d3\tunquoted\ttext with\ttabs\n"
        'd4\t"Hello," she said.\tand more\n'
        "\n"
        'd5\t"just quoted"\n',
        encoding="utf-8",
    )
    passages = read_passages(path)
    assert passages == {
        "d1": "plain text",
        "d2": 'a table:\tcol 1\tcol 2 with "quotes"',
        "d3": "unquoted\ttext with\ttabs",
        "d4": '"Hello," she said.\tand more',
        "d5": "just quoted",
    }
    (tmp_path / "bad.tsv").write_text("d1\tfine\nno-tab-here\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="bad.tsv:2"):
        read_passages(tmp_path / "bad.tsv")
