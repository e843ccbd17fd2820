"""The pure math of the analytics batch jobs: CLV (BG/NBD, Gamma-Gamma), RFM, attribution.

Plain numpy/scipy/pandas, importable without pyspark: a Spark job computes its per-customer
(or per-journey) summary, collects it, and hands it to these functions.
"""
