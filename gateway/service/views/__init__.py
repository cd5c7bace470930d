"""The plan as people read it: partners' plan reads, the coordinator, the family, the compliance dashboard."""
