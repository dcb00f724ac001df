"""Human review of predictions: queues, the review log, the review web app, audited precision."""
