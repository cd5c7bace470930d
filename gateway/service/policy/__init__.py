"""Consent and agreement rules: the policy set, enforcement, consents, agreements and their signatures."""
