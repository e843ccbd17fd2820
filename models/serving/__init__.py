"""BentoML services for the fraud and churn models (see `services`)."""
