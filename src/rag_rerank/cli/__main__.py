"""``python -m rag_rerank.cli``: the ``rag-rerank`` command."""

from rag_rerank.cli import main

main()
