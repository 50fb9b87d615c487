"""Customer predictions: churn, purchase in 30 days and 12-month value (see docs/predictions.md)."""
