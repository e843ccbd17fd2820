"""The analytics batch jobs: silver tables in, whole gold tables out, every run's lineage kept.

    python -m spark.jobs.analytics list
    python -m spark.jobs.analytics run rfm clv      # or: run all

(`ecap lake jobs list|run` runs these.) `registry.JOBS` declares the jobs; `runner` reads,
writes and records; one module per job holds its pure `transform`.
"""
