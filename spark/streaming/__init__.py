"""The lake's streaming jobs: Kafka -> bronze -> silver -> gold (DESIGN.md, "The lake").

Each layer is a module of pure `transform`-style functions plus thin readers and writers;
`spark.streaming.job` wires them into named streams, each with its own checkpoint, and runs
them (`python -m spark.streaming.job`, or `run(settings, available_now=True)` to catch up).
"""
