"""Approval requests for promoting medium- and high-risk model versions to production."""
