"""One construct per capability of the pipeline; ``infra.stack`` composes them."""
