"""`python -m pipelines.cli`: the same commands as `servicereview`."""

from pipelines.cli import app

app()
