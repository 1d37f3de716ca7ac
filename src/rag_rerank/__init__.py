"""rag-rerank as an application: its settings (:mod:`rag_rerank.settings`), the HTTP service
(:mod:`rag_rerank.service`) and the command line (:mod:`rag_rerank.cli`), over the library
:mod:`rag_core`, which never imports any of them."""
