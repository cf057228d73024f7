"""The account's settings: two-step sign-in (and which notices the person gets by email)."""
