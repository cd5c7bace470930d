"""Proof for compliance officers: the audit chain, the accounting of disclosures, reports, retention."""
