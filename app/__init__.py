"""The running product: the ingest pipeline, the `stitch` command, the web server and workers."""
