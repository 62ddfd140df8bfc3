"""Human review of production decisions (EU AI Act Art. 14): a sampled queue and reviewers' verdicts."""
