"""Referrals to agencies: the outbox, delivery with leases and retries, status tracking."""
