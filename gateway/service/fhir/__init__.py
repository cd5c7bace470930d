"""The FHIR R4 server: reads, writes, consents, referrals as Tasks, SMART Backend Services."""
