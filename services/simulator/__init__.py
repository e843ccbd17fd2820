"""The traffic simulator: a seeded, Faker-based shop that emits ECAP's records.

Start with `generator.Simulation` (records in time order, fraud labels kept apart),
`parquet.write_parquet` (training data without the stack), `sender.Sender` (the gRPC client),
`run.simulate` (what `ecap simulate` runs) and `corrupt.invalid_records` (broken records for
ingestion tests).
"""
