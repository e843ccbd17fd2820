"""Training and evaluation of the fraud and churn models, and the BentoML model store."""
