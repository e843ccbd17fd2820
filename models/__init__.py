"""Feature definitions, fraud and churn training and evaluation, BentoML services.

Not built yet; they arrive with the models issue.
"""
