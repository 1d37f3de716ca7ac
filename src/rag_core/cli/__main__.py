"""``python -m rag_core.cli``: the ``rag-rerank`` command."""

from rag_core.cli import main

main()
