"""The scheduler: filters, weighted scores and the binding loop."""
