"""What the app writes out: the vetted catalogue (``export``), a merged review's extra columns
(``team_export``) and score tables streamed a chunk at a time (``table_stream``)."""
