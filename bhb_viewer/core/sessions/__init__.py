"""The review store: a session file and what is computed from people's verdicts.

One SQLite connection (``session_db``, migrations in ``session_schema``) shared by the verdict log
(``verdict_log``), the writer registry (``session_writers``) and the score cache (``score_cache``),
behind the ``verdicts.Session`` façade; the words of a review (``verdict_types``), verdicts read from
a table (``verdict_table``), merged team reviews (``merge``), the blind audit (``audit``) and its
selection function (``selection_function``).
"""
